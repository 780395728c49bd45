"""Marks of provider calls in flight, so that a call whose worker died is recorded, not lost.

A delivery marks its call (``mark_call``) in the round trip that admits it, before the call,
and the step that records the call's outcome removes the mark (``JobStore.finish_call`` with
the answering attempt, ``JobStore.add_attempt(ends_call=True)``). The mark is opaque here: the
runner puts in it the call's spend hold and the attempt to record should the call be lost. The
next delivery of the job gets a mark still there from ``JobStore.begin`` and records it with
``record_lost``, once, whichever delivery gets there first.
"""

from __future__ import annotations

from typing import Any

import redis

from broker.jobs import Attempt
from broker.keys import Keys
from broker.script_batch import ScriptCall

__all__ = ["CallMarks"]

# KEYS: call mark, attempts. ARGV: the mark as read, the attempt JSON, ttl.
_RECORD_LOST = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
redis.call('RPUSH', KEYS[2], ARGV[2])
redis.call('EXPIRE', KEYS[2], ARGV[3])
redis.call('DEL', KEYS[1])
return 1
"""

# KEYS: call mark. ARGV: the mark, ttl.
_MARK = """
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return 1
"""

# KEYS: call mark.
_UNMARK = """
return redis.call('DEL', KEYS[1])
"""


class CallMarks:
    """The call marks of a job store's jobs; a mark lasts as long as a job's record."""

    def __init__(self, client: redis.Redis, keys: Keys, ttl_s: int) -> None:
        self.client = client
        self.keys = keys
        self.ttl_s = ttl_s
        self._record_lost = client.register_script(_RECORD_LOST)
        self._mark = client.register_script(_MARK)
        self._unmark = client.register_script(_UNMARK)

    def mark_call(self, job_id: str, mark: str) -> ScriptCall[Any]:
        """Mark a call as started, to run in the round trip before the call."""
        return ScriptCall(self._mark, [self.keys.call(job_id)], [mark, self.ttl_s])

    def unmark_call(self, job_id: str) -> ScriptCall[Any]:
        """Remove the mark of a call that was not made after all (skipped, or made to wait)."""
        return ScriptCall(self._unmark, [self.keys.call(job_id)], [])

    def record_lost(self, job_id: str, mark: str, attempt: Attempt) -> bool:
        """Record the attempt of a call whose delivery died, and drop its mark, if ``mark`` is
        still the job's. False if another delivery recorded it first."""
        return bool(
            self._record_lost(
                keys=[self.keys.call(job_id), self.keys.attempts(job_id)],
                args=[mark, attempt.model_dump_json(), self.ttl_s],
            )
        )
