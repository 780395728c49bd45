"""Deferred jobs: new jobs held back until a cheaper price window of their first target opens
(routing/offpeak.py decides which).

A deferred job is written by the submit script (``broker/job_writes.py``) into a sorted set per
queue scored by the epoch second its window opens, with the waiting-set entry it will take
(priority, tenant, deadline score) in a hash beside it and its first message in the queue's
messages hash, where every waiting job's message is. Once its time has come, one script moves
it into its waiting set as if it had just been submitted, so it is picked by priority, tenant
share and deadline like any other job (a whole batch released at once shares the provider as
any backlog does). Nothing waits in a worker, and a job moved by a dispatcher killed mid-way is
either still deferred or already waiting.

A job that ended while it waited (a batch's or a pipeline's cancel wrote its result) is
dropped at release, with its message, and never reaches a Celery list.

The dispatcher of each worker releases its queues' due jobs at a top-up, at most once per
``every_s`` (its sweep) unless the earliest deferred job is due sooner (``DeferredRelease``),
so a queue with nothing deferred costs one script a second, not one per top-up.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import redis

from broker.keys import Keys
from broker.scheduler.picking import LEVELS

__all__ = ["DeferredJobs", "DeferredRelease"]

# KEYS: the deferred set, its entries, the queue's messages, its passes.
# ARGV: now, at most, the result key's name before and after the job id, then per level: its
# name, its waiting-set name without the tenant, its tenant set.
# Returns {released, dropped, the earliest score still deferred ('' when none)}.
_RELEASE = """
local waiting, tenants = {}, {}
for i = 5, #ARGV, 3 do
  waiting[ARGV[i]] = ARGV[i + 1]
  tenants[ARGV[i]] = ARGV[i + 2]
end
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
local released, dropped = 0, 0
for _, id in ipairs(due) do
  local entry = redis.call('HGET', KEYS[2], id)
  redis.call('ZREM', KEYS[1], id)
  redis.call('HDEL', KEYS[2], id)
  local level, tenant, score
  if entry then level, tenant, score = string.match(entry, '^(%S+) (%S+) (%S+)$') end
  if not level or not waiting[level]
      or redis.call('EXISTS', ARGV[3] .. id .. ARGV[4]) == 1 then
    redis.call('HDEL', KEYS[3], id)
    dropped = dropped + 1
  else
    redis.call('ZADD', waiting[level] .. tenant, score, id)
    if redis.call('SADD', tenants[level], tenant) == 1 then
      -- back after a pause: start from the last pick's pass, as the submit script does
      local field = level .. ':' .. tenant
      local now = tonumber(redis.call('HGET', KEYS[4], level) or '0')
      if tonumber(redis.call('HGET', KEYS[4], field) or '0') < now then
        redis.call('HSET', KEYS[4], field, now)
      end
    end
    released = released + 1
  end
end
local head = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {released, dropped, head[2] or ''}
"""

# Jobs one release moves at most; more due are moved by the next top-up, straight after.
_RELEASE_AT_MOST = 1000


class DeferredJobs:
    """One Redis's deferred jobs, per queue."""

    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        self.client = client
        self.keys = keys
        self._release = client.register_script(_RELEASE)
        before, _, after = keys.result("\0").partition("\0")
        self._result_name = (before, after)

    def release(
        self, queue: str, now: float, limit: int = _RELEASE_AT_MOST
    ) -> tuple[int, float | None]:
        """Move the jobs whose window has opened by ``now`` into their waiting sets; returns
        how many, and when the next one is due (None: nothing is deferred)."""
        keys = self.keys
        args: list[str | float | int] = [repr(now), limit, *self._result_name]
        for level in LEVELS:
            args += [
                level.value,
                keys.sched_waiting(queue, level.value, ""),
                keys.sched_tenants(queue, level.value),
            ]
        reply = self._release(
            keys=[
                keys.sched_deferred(queue),
                keys.sched_deferred_entries(queue),
                keys.sched_messages(queue),
                keys.sched_passes(queue),
            ],
            args=args,
        )
        head = _text(reply[2])
        return int(reply[0]), float(head) if head else None

    def counts(self, queues: Sequence[str]) -> dict[str, tuple[int, float | None]]:
        """Jobs deferred per queue and when the first is due, in one pipelined round trip."""
        pipe = self.client.pipeline(transaction=False)
        for queue in queues:
            pipe.zcard(self.keys.sched_deferred(queue))
            pipe.zrange(self.keys.sched_deferred(queue), 0, 0, withscores=True)
        replies = pipe.execute()
        found: dict[str, tuple[int, float | None]] = {}
        for index, queue in enumerate(queues):
            head = replies[2 * index + 1]
            found[queue] = (int(replies[2 * index]), float(head[0][1]) if head else None)
        return found


class DeferredRelease:
    """When a dispatcher looks at each of its queues' deferred jobs next: every ``every_s``,
    or as soon as the earliest one is due, whichever comes first."""

    def __init__(self, jobs: DeferredJobs, every_s: float) -> None:
        self.jobs = jobs
        self.every_s = every_s
        self._next: dict[str, float] = {}

    def due(self, queue: str, now: float) -> int:
        """Release ``queue``'s due jobs if it is time to look; returns how many."""
        if now < self._next.get(queue, -math.inf):
            return 0
        released, head = self.jobs.release(queue, now)
        self._next[queue] = min(now + self.every_s, math.inf if head is None else head)
        return released


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
