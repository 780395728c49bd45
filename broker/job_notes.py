"""What the submit decided about where a job waits, as its status shows it: the offload
decision (``offload``), the price-window decision (``offpeak``) and, for a job held for a
cheaper window, when it joins its queue (``not_before``). Written on the job's record by
``CascadeClient.enqueue``; read here for ``cascade result`` and ``GET /v1/jobs/{id}``."""

from __future__ import annotations

import redis

from broker.keys import Keys

__all__ = ["NOTE_FIELDS", "job_notes"]

NOTE_FIELDS = ("offload", "offpeak", "not_before")


def job_notes(client: redis.Redis, keys: Keys, job_id: str) -> dict[str, str]:
    """The notes the job's record has, by field (none: nothing was decided, or it expired)."""
    values = client.hmget(keys.job(job_id), list(NOTE_FIELDS))
    return {
        name: value.decode() if isinstance(value, bytes) else str(value)
        for name, value in zip(NOTE_FIELDS, values, strict=True)
        if value is not None
    }
