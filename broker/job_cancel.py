"""Cancelling a streamed job whose caller disconnected, in one script call.

A job nobody reads any more is answered, and paid for, for nobody; so when the caller of a
``stream: true`` chat completion goes away, the API ends its job (unless the caller asked it to
go on, ``broker/http_api/chat_stream.py``). What that takes depends on where the job is, and the
script decides it atomically against the worker's claim (``broker/store.py``'s begin):

- ended already: nothing to do;
- held by a delivery (its claim is set): a flag, ``job:<id>:cancel``. The worker streaming the
  answer looks at it between reads (``workers/stream_calls.py``), closes the provider's
  connection and ends the job ``Cancelled`` with what was streamed counted; a delivery that is
  not streaming yet, or that goes on to a retry, meets the flag at its next call;
- anywhere else (waiting in the scheduler, held, a retry's countdown): ended now, with its
  attempts so far, as a batch's cancel ends its jobs; the worker that takes its message later
  finds the result and stands down.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Literal

from broker.jobs import FailedResult, JobStatus
from broker.keys import Keys

__all__ = [
    "CANCELLED",
    "DISCONNECT_SCRIPT",
    "DisconnectOutcome",
    "disconnect_call",
    "disconnect_message",
]

CANCELLED = "Cancelled"
DisconnectOutcome = Literal["ended", "unknown", "flagged", "cancelled"]

_ATTEMPTS = '"attempts":[]'

# KEYS: result, job hash, claim, cancel flag, attempts. ARGV: ttl, now, done channel, events
# channel, event JSON, the result JSON up to its attempts' '[', the rest from its ']', tenant.
# The result is assembled here with the attempts recorded so far: no delivery holds the job,
# so none is adding one.
DISCONNECT_SCRIPT = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 'ended' end
if redis.call('HGET', KEYS[2], 'tenant') ~= ARGV[8] then return 'unknown' end
if redis.call('EXISTS', KEYS[3]) == 1 then
  redis.call('SET', KEYS[4], '1', 'EX', ARGV[1])
  return 'flagged'
end
local attempts = redis.call('LRANGE', KEYS[5], 0, -1)
redis.call('SET', KEYS[1], ARGV[6] .. table.concat(attempts, ',') .. ARGV[7], 'EX', ARGV[1])
redis.call('HSET', KEYS[2], 'status', 'failed', 'finished_at', ARGV[2])
redis.call('EXPIRE', KEYS[2], ARGV[1])
redis.call('PUBLISH', ARGV[3], 'failed')
redis.call('PUBLISH', ARGV[4], ARGV[5])
return 'cancelled'
"""


def disconnect_message(streamed: bool) -> str:
    """The reason a job cancelled by its caller's disconnect ends with."""
    where = (
        "while its answer streamed: the provider call was stopped, and what it streamed is counted"
        if streamed
        else "before its answer streamed: no call was made for it after that"
    )
    return (
        f"the caller disconnected from the stream {where} (send X-Cascade-On-Disconnect:"
        " continue to let a job go on without its caller)"
    )


def disconnect_call(
    keys: Keys, ttl_s: int, job_id: str, tenant: str, now: datetime
) -> tuple[list[str], list[str | int]]:
    """The KEYS and ARGV of one DISCONNECT_SCRIPT call for ``job_id`` of ``tenant``."""
    result = FailedResult(
        job_id=job_id,
        error_class=CANCELLED,
        error_message=disconnect_message(streamed=False),
        attempts=[],
        tenant=tenant,
        finished_at=now,
    ).model_dump_json()
    head, found, tail = result.partition(_ATTEMPTS)
    assert found, "a FailedResult's JSON holds its attempts"
    event = json.dumps(
        {
            "job_id": job_id,
            "status": JobStatus.FAILED.value,
            "error_class": CANCELLED,
            "at": now.isoformat(),
        }
    )
    script_keys = [
        keys.result(job_id),
        keys.job(job_id),
        keys.claim(job_id),
        keys.job_cancel(job_id),
        keys.attempts(job_id),
    ]
    args: list[str | int] = [
        ttl_s,
        f"{now.timestamp():.6f}",
        keys.done_channel(job_id),
        keys.events_channel(),
        event,
        head + '"attempts":[',
        "]" + tail,
        tenant,
    ]
    return script_keys, args
