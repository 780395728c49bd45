"""Every Redis key and channel name cascade uses, in one place.

All names start with the configured prefix (``cascade`` by default) so that several deployments
can share one Redis and an operator can find cascade's keys with one pattern. Celery's own keys
(queues named ``<tier>.<provider>``, ``_kombu.*``) are Celery's and not listed here, but for the
two of kombu's unacknowledged-message records that cascade's scripts and metrics touch (their
names are set in Celery's transport options from here: ``broker/celery_app.py``) and the bell
beside each Celery list that cascade's worker transport waits on.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CELERY_UNACKED", "CELERY_UNACKED_INDEX", "Keys", "celery_queue_bell"]

# kombu's hash of messages delivered and not yet acknowledged (tag -> message), and its index
# (tag -> when delivered), unprefixed, as kombu's defaults.
CELERY_UNACKED = "unacked"
CELERY_UNACKED_INDEX = "unacked_index"


def celery_queue_bell(queue: str) -> str:
    """List: one ring per message pushed onto Celery's list ``queue``, which cascade's worker
    transport blocks on instead of the list itself, to pop and record a message in one script
    (workers/message_pops.py). Beside the list's own name, unprefixed like it; queue names
    hold no ':' (routing/catalog.py), so no queue's name spells a bell's."""
    return f"{queue}:bell"


@dataclass(frozen=True, slots=True)
class Keys:
    # Ids that become part of a name hold no ':' (broker/ids.py), so no id spells another key.
    prefix: str = "cascade"

    def job(self, job_id: str) -> str:
        """Hash: the job as submitted, its route, status, current hop, timestamps."""
        return f"{self.prefix}:job:{job_id}"

    def attempts(self, job_id: str) -> str:
        """List: one JSON record per provider call (or skipped target), in order."""
        return f"{self.prefix}:job:{job_id}:attempts"

    def result(self, job_id: str) -> str:
        """String: the final CompletionResult or FailedResult. Written once (SET NX)."""
        return f"{self.prefix}:job:{job_id}:result"

    def claim(self, job_id: str) -> str:
        """String with a TTL: the worker that is running the job right now."""
        return f"{self.prefix}:job:{job_id}:claim"

    def call(self, job_id: str) -> str:
        """String with a TTL: the provider call a delivery has started (its spend hold and the
        attempt to record for it), until the call's outcome is recorded. Found by the next
        delivery, it means the worker was lost mid-call."""
        return f"{self.prefix}:job:{job_id}:call"

    def job_stream(self, job_id: str) -> str:
        """Stream with the result's TTL, capped at ``CASCADE_STREAM_MAXLEN`` entries: a streamed
        job's ``chat.completion.chunk``s as the worker reads them, and a ``reset`` entry where
        a failed attempt's partial answer is to be discarded (broker/job_streams.py)."""
        return f"{self.prefix}:job:{job_id}:stream"

    def job_cancel(self, job_id: str) -> str:
        """String with the result's TTL: the streamed job's caller disconnected while a worker
        held it (broker/job_cancel.py); that worker stops reading the provider at its next look,
        and any later delivery ends the job ``Cancelled`` without a call."""
        return f"{self.prefix}:job:{job_id}:cancel"

    def done_channel(self, job_id: str) -> str:
        """Pub/sub channel: the job's final status, published once when it ends."""
        return f"{self.prefix}:done:{job_id}"

    def events_channel(self) -> str:
        """Pub/sub channel: every job's status changes, for dashboards and subscribers."""
        return f"{self.prefix}:events"

    def batch(self, batch_id: str) -> str:
        """Hash: a batch's record and counters (total, succeeded, failed, ...); ``enqueuing``
        while its jobs are being written."""
        return f"{self.prefix}:batch:{batch_id}"

    def batch_jobs(self, batch_id: str) -> str:
        """List: the ids of a batch's jobs, in submission order."""
        return f"{self.prefix}:batch:{batch_id}:jobs"

    def batch_channel(self, batch_id: str) -> str:
        """Pub/sub channel: each of a batch's jobs as it ends."""
        return f"{self.prefix}:batch:{batch_id}:events"

    def batch_custom_ids(self, batch_id: str) -> str:
        """List: each batch job's caller-given custom_id, in the order of ``batch_jobs``."""
        return f"{self.prefix}:batch:{batch_id}:custom_ids"

    def tenant_batches(self, tenant: str) -> str:
        """Sorted set: a tenant's batch ids, scored by creation time. Expires with its newest
        batch; entries older than the batches' TTL are dropped when a batch is created."""
        return f"{self.prefix}:tenant:{tenant}:batches"

    def file(self, file_id: str) -> str:
        """Hash: an uploaded file (OpenAI Files API): owner, name, purpose, bytes, content."""
        return f"{self.prefix}:file:{file_id}"

    def tenant_files(self, tenant: str) -> str:
        """Sorted set: a tenant's uploaded file ids, scored by upload time. Expires with its
        newest file; an entry whose file has expired is dropped when a listing meets it."""
        return f"{self.prefix}:tenant:{tenant}:files"

    def webhook(self, subject: str) -> str:
        """Hash: the webhook registered for a subject (``job:<id>`` or ``batch:<id>``)."""
        return f"{self.prefix}:webhook:{subject}"

    def webhooks_watched(self) -> str:
        """Sorted set: subjects whose webhook has not been scheduled yet, by registration time."""
        return f"{self.prefix}:webhooks:watched"

    def webhooks_channel(self) -> str:
        """Pub/sub channel: a subject just registered, so a dispatcher looks at it at once."""
        return f"{self.prefix}:webhooks:registered"

    def webhook_delivery(self, delivery_id: str) -> str:
        """Hash with a TTL: one webhook delivery: subject, event, URL, tenant, body, attempts
        made, last error. A given-up delivery keeps no body (a replay rebuilds it)."""
        return f"{self.prefix}:webhooks:delivery:{delivery_id}"

    def webhooks_tenant_due(self, tenant: str) -> str:
        """Sorted set: one tenant's delivery ids, scored by when their next attempt is due."""
        return f"{self.prefix}:webhooks:due:{tenant}"

    def webhooks_tenants(self) -> str:
        """Sorted set: tenants with deliveries in their due set, scored by the earliest one."""
        return f"{self.prefix}:webhooks:tenants"

    def webhooks_failed(self) -> str:
        """Sorted set: delivery ids that used up their attempts, by when they gave up; trimmed
        to the newest ``webhook_failed_max`` and to ``webhook_failed_ttl_s``."""
        return f"{self.prefix}:webhooks:failed"

    # --- pipelines (broker/pipelines/) ---

    def pipeline(self, pipeline_id: str) -> str:
        """Hash: a pipeline's definition, input, tenant, status, one ``run:<step>:<round>``
        field per step round (JSON), and its final ``result``, written once."""
        return f"{self.prefix}:pipeline:{pipeline_id}"

    def pipeline_events(self, pipeline_id: str) -> str:
        """List: the pipeline's events in order (JSON), for polling and SSE replay."""
        return f"{self.prefix}:pipeline:{pipeline_id}:events"

    def pipeline_channel(self, pipeline_id: str) -> str:
        """Pub/sub channel: each of the pipeline's events as it is appended."""
        return f"{self.prefix}:pipeline:{pipeline_id}:channel"

    def pipeline_steps_channel(self) -> str:
        """Pub/sub channel: a pipeline step job's end (the events channel's JSON), for the
        pipeline drivers, so that they are not handed every other job's events too."""
        return f"{self.prefix}:pipelines:step-ended"

    def pipeline_lock(self, pipeline_id: str) -> str:
        """String with a TTL: the driver advancing the pipeline right now."""
        return f"{self.prefix}:pipeline:{pipeline_id}:lock"

    def pipelines_active(self) -> str:
        """Sorted set: ids of pipelines not ended yet, by creation time (the driver's sweep)."""
        return f"{self.prefix}:pipelines:active"

    def dead_letters(self) -> str:
        """Sorted set with a TTL: ids of failed jobs, scored by when they failed; trimmed to the
        result TTL and to ``CASCADE_DEAD_LETTERS_MAX`` entries whenever a job fails."""
        return f"{self.prefix}:dead"

    def circuit(self, target: str) -> str:
        """Hash: a circuit breaker's state, probe leases, latency and windowed call counts."""
        return f"{self.prefix}:circuit:{target}"

    def rate_limit(self, bucket: str) -> str:
        """Hash: a rate limit's GCRA theoretical arrival times (``requests``, ``tokens``)."""
        return f"{self.prefix}:ratelimit:{bucket}"

    def key_pool_cursor(self, provider: str) -> str:
        """Counter: the round-robin position in a provider's API key ids."""
        return f"{self.prefix}:keypool:{provider}:cursor"

    def key_pool_out(self, provider: str) -> str:
        """Hash: a provider's API key ids taken out of rotation -> JSON reason and time."""
        return f"{self.prefix}:keypool:{provider}:out"

    # --- spend, usage and latency (routing/spend.py, routing/usage.py, routing/latency.py) ---

    def usage(self, scope: str, name: str, period: str) -> str:
        """Hash: spend and usage counters of one scope (``provider``, ``tenant``,
        ``tenant_provider``, ``batch``), one name and one period (``day:2026-11-25``,
        ``month:2026-11``, ``all``): cost in nano-USD, tokens, jobs, and what is reserved."""
        return f"{self.prefix}:usage:{scope}:{name}:{period}"

    def usage_index(self, period: str) -> str:
        """Set with a TTL: the usage hashes of one period (``day:2026-11-25``, ``month:2026-11``,
        or ``all:2026-11-25`` for the batch rows written that day), so that ``cascade usage``
        lists them without SCAN; it outlives the hashes it lists by a day."""
        return f"{self.prefix}:usage:index:{period}"

    def spend_hold(self, hold_id: str) -> str:
        """String with a TTL: what one call reserved against the spend caps; deleted when the
        call is settled, released, or counted as lost."""
        return f"{self.prefix}:spend:hold:{hold_id}"

    def latency(self) -> str:
        """Hash: ``provider/model`` -> recent call latency in seconds (an EWMA)."""
        return f"{self.prefix}:latency"

    # --- the scheduler (broker/scheduler/) ---------------------------------------------------
    # A queue's names all start with sched_queue(queue); waiting-job sets end with the tenant,
    # so that a script can name one from sched_waiting(queue, priority, "") and a tenant.

    def sched_queue(self, queue: str) -> str:
        """The common start of one ``<tier>.<provider>`` queue's scheduler keys."""
        return f"{self.prefix}:sched:{queue}"

    def sched_waiting(self, queue: str, priority: str, tenant: str) -> str:
        """Sorted set: a tenant's jobs waiting at one priority for a queue, by deadline (epoch
        seconds), then (no deadline: 1e10 + arrival number) by arrival."""
        return f"{self.sched_queue(queue)}:waiting:{priority}:{tenant}"

    def sched_tenants(self, queue: str, priority: str) -> str:
        """Set: the tenants with jobs waiting at one priority for a queue."""
        return f"{self.sched_queue(queue)}:tenants:{priority}"

    def sched_messages(self, queue: str) -> str:
        """Hash: job id -> the Celery message the dispatcher moves onto the queue."""
        return f"{self.sched_queue(queue)}:messages"

    def sched_passes(self, queue: str) -> str:
        """Hash: ``<priority>:<tenant>`` -> the tenant's pass (weighted picks so far) and
        ``<priority>`` -> the pass of the last pick (where a returning tenant starts again)."""
        return f"{self.sched_queue(queue)}:passes"

    def sched_picks(self, queue: str) -> str:
        """Counter: picks made for a queue, for the starvation bound's every-Nth pick."""
        return f"{self.sched_queue(queue)}:picks"

    def sched_held(self, queue: str) -> str:
        """Sorted set: jobs held for a queue (every target unavailable for now, or waiting for a
        rate-limit slot), by the epoch second of their next look."""
        return f"{self.sched_queue(queue)}:held"

    def sched_held_messages(self, queue: str) -> str:
        """Hash: held job id -> the Celery message its next look is (its hop, not the first)."""
        return f"{self.sched_queue(queue)}:held-messages"

    def sched_held_for_circuit(self, provider: str, model: str) -> str:
        """Hash: job id -> queue, of the jobs held because ``provider/model``'s circuit was
        open; released at once when it closes (``broker/scheduler/holds.py``)."""
        return f"{self.prefix}:sched:held-circuit:{provider}/{model}"

    def sched_deferred(self, queue: str) -> str:
        """Sorted set: jobs held back for a queue until a cheaper price window opens, by the
        epoch second it opens (broker/scheduler/deferred.py)."""
        return f"{self.sched_queue(queue)}:deferred"

    def sched_deferred_entries(self, queue: str) -> str:
        """Hash: deferred job id -> ``<priority> <tenant> <score>``, the waiting-set entry it
        takes when its window opens (its message waits in ``sched_messages`` meanwhile)."""
        return f"{self.sched_queue(queue)}:deferred-entries"

    def sched_arrivals(self) -> str:
        """Counter: the arrival number of each new job without a deadline (its order)."""
        return f"{self.prefix}:sched:arrivals"

    def sched_wake_channel(self) -> str:
        """Pub/sub channel: a queue's name, published when jobs were added for it."""
        return f"{self.prefix}:sched:wake"

    # --- provider batch offload (broker/offload/) ------------------------------------------
    # Parked jobs wait in the scheduler's sets of the queue ``offload.<provider>``, which no
    # dispatcher serves; only the keys below are the offload's own.

    def offload_claims(self) -> str:
        """Hash: job id -> the offload record (provider batch) holding its line."""
        return f"{self.prefix}:offload:claims"

    def offload_record(self, record_id: str) -> str:
        """Hash: one provider batch of parked jobs (provider, model, key, lines, its id)."""
        return f"{self.prefix}:offload:record:{record_id}"

    def offload_records(self) -> str:
        """Set: the ids of offload records not yet settled."""
        return f"{self.prefix}:offload:records"

    def offload_lease(self, name: str) -> str:
        """String with a TTL: the poller instance acting on a record or a provider's parking."""
        return f"{self.prefix}:offload:lease:{name}"

    def offload_saved(self) -> str:
        """Hash: ``<tenant>`` -> nano-USD saved by answering at the batch price."""
        return f"{self.prefix}:offload:saved"

    def offload_due(self) -> str:
        """Sorted set: record id -> when its provider batch is next asked for its status (a
        provider's webhook makes it now)."""
        return f"{self.prefix}:offload:due"

    def offload_batches(self, provider: str) -> str:
        """Hash: the provider's batch id -> the offload record holding it (for webhooks, which
        name only the provider's batch)."""
        return f"{self.prefix}:offload:batches:{provider}"

    def offload_wake_channel(self) -> str:
        """Pub/sub channel: a record id, published when its provider batch should be looked at
        now (a provider's webhook said it ended)."""
        return f"{self.prefix}:offload:wake"

    def offload_early_webhook(self, provider: str, batch_id: str) -> str:
        """String with a TTL: a batch event for a provider batch no record held yet (it came
        before the poller wrote the batch's id); the record is due at once when it does."""
        return f"{self.prefix}:offload:early:{provider}:{batch_id}"

    def provider_webhook_seen(self, provider: str, webhook_id: str) -> str:
        """String with a TTL: a provider webhook's ``webhook-id`` already taken in (replays and
        the provider's own retries are acknowledged and do nothing)."""
        return f"{self.prefix}:offload:webhook-seen:{provider}:{webhook_id}"

    def offpeak_saved(self) -> str:
        """Hash: ``<tenant>`` -> nano-USD saved by calls made at a cheaper price than the one in
        force when their job was submitted (price windows, routing/price_windows.py)."""
        return f"{self.prefix}:offpeak:saved"
