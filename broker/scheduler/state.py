"""The scheduler's Redis state: reading a queue's waiting work, and moving picked jobs onto the
Celery queue, each in one Lua script.

Jobs are added by the submit script (``broker/job_writes.py``), in the step that writes their
records. Moving is one script per top-up: each picked job leaves its waiting set and lands on
the Celery list together, so a dispatcher killed at any point loses no job and moves none
twice; several dispatchers may top up the same queue at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import redis

from broker.jobs import Priority
from broker.keys import Keys, celery_queue_bell
from broker.scheduler.picking import LEVELS, Pick, QueueSnapshot

__all__ = ["Moved", "SchedulerState", "WaitingCount"]

# KEYS: the Celery list, picks, passes, the held set, then the tenant set of each level
# (highest first). ARGV: the waiting-set name of each level without its tenant.
# Returns {list length, picks, passes (flat field/value), held jobs, then per level
# {tenant, count, ...}}. The held count lets a top-up skip the release script when nothing is
# held, as nothing is on most top-ups.
_SNAPSHOT = """
local reply = {redis.call('LLEN', KEYS[1]), tonumber(redis.call('GET', KEYS[2]) or '0'),
  redis.call('HGETALL', KEYS[3]), redis.call('ZCARD', KEYS[4])}
for level = 1, #ARGV do
  local counts = {}
  for _, tenant in ipairs(redis.call('SMEMBERS', KEYS[4 + level])) do
    table.insert(counts, tenant)
    table.insert(counts, redis.call('ZCARD', ARGV[level] .. tenant))
  end
  table.insert(reply, counts)
end
return reply
"""

# KEYS: the Celery list, messages, passes, picks, the list's bell (rung once per message
# pushed: workers/message_pops.py).
# ARGV: the result key's name before and after the job id, the number of picks, then per pick:
# waiting set, tenant set, tenant, priority, stride.
# A job whose result exists (ended while it waited: a batch's cancel) is dropped, not queued,
# and the pick takes the next one of the set (up to 1,000 dropped per pick), so a cancelled
# backlog drains without taking the picks of live work.
# Returns {moved, dropped}.
_MOVE = """
local moved, dropped = 0, 0
local n = tonumber(ARGV[3])
for i = 1, n do
  local base = 3 + 5 * (i - 1)
  local waiting, tenants, tenant, level = ARGV[base + 1], ARGV[base + 2], ARGV[base + 3],
    ARGV[base + 4]
  for _ = 1, 1000 do
    local head = redis.call('ZPOPMIN', waiting)
    if #head == 0 then break end
    local id = head[1]
    local message = redis.call('HGET', KEYS[2], id)
    redis.call('HDEL', KEYS[2], id)
    if message and redis.call('EXISTS', ARGV[1] .. id .. ARGV[2]) == 0 then
      local field = level .. ':' .. tenant
      local pass = tonumber(redis.call('HGET', KEYS[3], field) or '0')
      redis.call('HSET', KEYS[3], level, pass, field, pass + tonumber(ARGV[base + 5]))
      redis.call('LPUSH', KEYS[1], message)
      redis.call('LPUSH', KEYS[5], 1)
      moved = moved + 1
      break
    end
    dropped = dropped + 1
  end
  if redis.call('EXISTS', waiting) == 0 then redis.call('SREM', tenants, tenant) end
end
redis.call('INCRBY', KEYS[4], n)
return {moved, dropped}
"""


@dataclass(frozen=True, slots=True)
class Moved:
    moved: int
    dropped: int  # ended while waiting (a cancel): taken out, not queued


@dataclass(frozen=True, slots=True)
class WaitingCount:
    queue: str
    priority: Priority
    tenant: str
    jobs: int


class SchedulerState:
    """One Redis's scheduler structures: what waits per queue, and the move onto Celery's."""

    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        self.client = client
        self.keys = keys
        self._snapshot = client.register_script(_SNAPSHOT)
        self._move = client.register_script(_MOVE)
        before, _, after = keys.result("\0").partition("\0")
        self._result_name = (before, after)

    def snapshot(self, queue: str) -> QueueSnapshot:
        keys = self.keys
        reply = self._snapshot(
            keys=[
                queue,
                keys.sched_picks(queue),
                keys.sched_passes(queue),
                keys.sched_held(queue),
                *(keys.sched_tenants(queue, level.value) for level in LEVELS),
            ],
            args=[keys.sched_waiting(queue, level.value, "") for level in LEVELS],
        )
        flat = [_text(item) for item in reply[2]]
        passes = {flat[i]: float(flat[i + 1]) for i in range(0, len(flat), 2)}
        waiting: dict[Priority, dict[str, int]] = {}
        for level, counts in zip(LEVELS, reply[4:], strict=True):
            pairs = {_text(counts[i]): int(counts[i + 1]) for i in range(0, len(counts), 2)}
            waiting[level] = {tenant: n for tenant, n in pairs.items() if n > 0}
        return QueueSnapshot(int(reply[0]), int(reply[1]), waiting, passes, held=int(reply[3]))

    def move(self, queue: str, picks: Sequence[Pick]) -> Moved:
        """Move each pick's head job onto the Celery list, in order, in one script."""
        if not picks:
            return Moved(0, 0)
        keys = self.keys
        args: list[str | float | int] = [*self._result_name, len(picks)]
        for pick in picks:
            level = pick.priority.value
            args += [
                keys.sched_waiting(queue, level, pick.tenant),
                keys.sched_tenants(queue, level),
                pick.tenant,
                level,
                repr(pick.stride),
            ]
        reply = self._move(
            keys=[
                queue,
                keys.sched_messages(queue),
                keys.sched_passes(queue),
                keys.sched_picks(queue),
                celery_queue_bell(queue),
            ],
            args=args,
        )
        return Moved(int(reply[0]), int(reply[1]))

    def waiting(self, queues: Sequence[str]) -> list[WaitingCount]:
        """Jobs waiting per (queue, priority, tenant), in two pipelined round trips."""
        pipe = self.client.pipeline(transaction=False)
        slots = [(queue, level) for queue in queues for level in LEVELS]
        for queue, level in slots:
            pipe.smembers(self.keys.sched_tenants(queue, level.value))
        found = [
            (queue, level, sorted(_text(item) for item in members))
            for (queue, level), members in zip(slots, pipe.execute(), strict=True)
        ]
        for queue, level, tenants in found:
            for tenant in tenants:
                pipe.zcard(self.keys.sched_waiting(queue, level.value, tenant))
        counts = iter(pipe.execute())
        return [
            WaitingCount(queue, level, tenant, int(next(counts)))
            for queue, level, tenants in found
            for tenant in tenants
        ]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
