"""Acting on the offload decision (routing/offload.py): parking jobs at submit, a poller that
sends them through the providers' batch APIs and folds the answers back, and the fallback to
the synchronous route by each job's ``fall_back_at``.

``choice`` (pure) says where a planned job is written; ``state`` keeps the Redis side in Lua;
``provider_calls`` makes a provider batch's HTTP calls; ``fold`` (pure) turns a line's answer
into the job's result; ``poller`` runs the loop.
"""
