"""Held jobs: where a job waits when no target of its route can take it for now.

A job whose targets are all unavailable for a while (circuits open, no rate-limit slot soon
enough) or that waits for a rate-limit slot has had its turn already, so it does not go back
behind the backlog in the waiting sets; it waits here instead, in a sorted set per queue scored
by the time of its next look, with the Celery message of its hop beside it. The dispatcher
moves due jobs onto the Celery list only while the list has room, so a provider's backlog
waits in Redis rather than as countdown messages parked inside workers.

Holding is one MULTI (message and entry together) and releasing one script (each released
job leaves the set and lands on the list together): a process killed in between holds each
job either here or on the list. A delivery holding a job runs before its message is
acknowledged, so a worker killed after the hold leaves a redelivery that holds it again (the
same entry, rewritten), never a second copy.
"""

from __future__ import annotations

from collections.abc import Sequence

import redis

from broker.keys import Keys

__all__ = ["HeldJobs"]

# KEYS: the held set, the held messages, the Celery list. ARGV: now (epoch s), at most.
# Returns how many jobs were moved onto the list.
_RELEASE = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
local moved = 0
for _, id in ipairs(due) do
  local message = redis.call('HGET', KEYS[2], id)
  redis.call('ZREM', KEYS[1], id)
  redis.call('HDEL', KEYS[2], id)
  if message then
    redis.call('LPUSH', KEYS[3], message)
    moved = moved + 1
  end
end
return moved
"""


class HeldJobs:
    """One Redis's held jobs, per queue."""

    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        self.client = client
        self.keys = keys
        self._release = client.register_script(_RELEASE)

    def hold(self, queue: str, job_id: str, message: bytes, look_at: float) -> None:
        """Hold ``job_id`` for ``queue`` until ``look_at`` (epoch seconds)."""
        pipe = self.client.pipeline(transaction=True)
        pipe.hset(self.keys.sched_held_messages(queue), job_id, message)
        pipe.zadd(self.keys.sched_held(queue), {job_id: look_at})
        pipe.execute()

    def release(self, queue: str, now: float, limit: int) -> int:
        """Move up to ``limit`` jobs whose look is due onto ``queue``; returns how many."""
        if limit <= 0:
            return 0
        keys = [self.keys.sched_held(queue), self.keys.sched_held_messages(queue), queue]
        return int(self._release(keys=keys, args=[repr(now), limit]))

    def counts(self, queues: Sequence[str]) -> dict[str, int]:
        """Jobs held per queue, in one pipelined round trip."""
        pipe = self.client.pipeline(transaction=False)
        for queue in queues:
            pipe.zcard(self.keys.sched_held(queue))
        return dict(zip(queues, (int(n) for n in pipe.execute()), strict=True))
