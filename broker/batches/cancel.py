"""Cancelling a batch's unfinished jobs in Redis, in one script call per page of jobs.

A cancel ends every unfinished job at once with a ``Cancelled`` failure (counted as
``cancelled``); a worker that later takes one of its messages finds a final result and stands
down, so cancelling needs nothing from the workers. Jobs that already have a result keep it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from broker.batches.records import CANCELLED
from broker.jobs import FailedResult
from broker.keys import Keys

__all__ = ["CANCEL_SCRIPT", "cancel_call"]

# KEYS: batch hash, then (result, job hash) per job.
# ARGV: ttl, now, batch channel, events channel, the batch's tenant, then (result JSON, event
# JSON, done channel) per job. A job that already has a result is left alone; one that has not
# ends as cancelled, with the same status, counters and events as a worker's finish, so waiters
# and subscribers wake. A line of a batch still being enqueued may have no job record yet: it
# gets its result only, and the enqueue, which checks the batch's cancel in the script that
# writes, never writes it. A job id another tenant took before the line was written is theirs:
# it is never ended here.
CANCEL_SCRIPT = """
local ended = 0
for i = 1, (#KEYS - 1) / 2 do
  local base = 5 + 3 * (i - 1)
  local owner = redis.call('HGET', KEYS[2 * i + 1], 'tenant')
  if (not owner or owner == ARGV[5])
      and redis.call('SET', KEYS[2 * i], ARGV[base + 1], 'NX', 'EX', ARGV[1]) then
    if owner then
      redis.call('HSET', KEYS[2 * i + 1], 'status', 'failed', 'finished_at', ARGV[2])
      redis.call('EXPIRE', KEYS[2 * i + 1], ARGV[1])
    end
    redis.call('HINCRBY', KEYS[1], 'cancelled', 1)
    redis.call('PUBLISH', ARGV[base + 3], 'failed')
    redis.call('PUBLISH', ARGV[4], ARGV[base + 2])
    redis.call('PUBLISH', ARGV[3], ARGV[base + 2])
    ended = ended + 1
  end
end
return ended
"""


def cancel_call(
    keys: Keys,
    ttl_s: int,
    batch_id: str,
    tenant: str,
    job_ids: Sequence[str],
    now: datetime,
) -> tuple[list[str], list[str | int]]:
    """The KEYS and ARGV of one CANCEL_SCRIPT call that cancels ``job_ids``."""
    script_keys = [keys.batch(batch_id)]
    args: list[str | int] = [
        ttl_s,
        f"{now.timestamp():.6f}",
        keys.batch_channel(batch_id),
        keys.events_channel(),
        tenant,
    ]
    for job_id in job_ids:
        result = FailedResult(
            job_id=job_id,
            error_class=CANCELLED,
            error_message="the batch was cancelled before this job ended",
            attempts=[],
            batch_id=batch_id,
            tenant=tenant,
            finished_at=now,
        )
        event = json.dumps(
            {
                "job_id": job_id,
                "status": "failed",
                "error_class": CANCELLED,
                "at": now.isoformat(),
                "batch_id": batch_id,
            }
        )
        script_keys += [keys.result(job_id), keys.job(job_id)]
        args += [result.model_dump_json(), event, keys.done_channel(job_id)]
    return script_keys, args
