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

A job held because its model's circuit is open is also listed under that circuit
(``sched_held_for_circuit``): its look is due when the circuit lets a probe through (the
worker scores it so), and when the circuit closes, the worker whose probe closed it releases
the whole list at once (``release_circuit``: each listed job still held is made due now, and
its queue's dispatchers are woken), so a held backlog does not wait out its hold timers
after the provider came back. The list is a hash rewritten per job (a job is listed once),
dropped at each close, and expires ``CIRCUIT_INDEX_TTL_S`` after its last addition: a job that
left the held set meanwhile is skipped by the release (``ZADD XX``), and a job whose listing
expired still looks at its own time.
"""

from __future__ import annotations

from collections.abc import Sequence

import redis

from broker.job_holds import HoldRecord
from broker.keys import Keys, celery_queue_bell

__all__ = ["CIRCUIT_INDEX_TTL_S", "HeldJobs"]

# Longer than any circuit's open time in practice; the index is a shortcut, never the only way
# a held job looks again.
CIRCUIT_INDEX_TTL_S = 3600

# KEYS: the circuit's held-jobs index. ARGV: the held set's name before and after the queue,
# now (epoch s), the wake channel. Each listed job still held is made due now (LT: never later
# than it was); each queue that had one is woken. Returns how many jobs were made due.
_RELEASE_CIRCUIT = """
local listed = redis.call('HGETALL', KEYS[1])
redis.call('DEL', KEYS[1])
local woken, due = {}, 0
for i = 1, #listed, 2 do
  local queue = listed[i + 1]
  local changed = redis.call('ZADD', ARGV[1] .. queue .. ARGV[2], 'XX', 'LT', 'CH', ARGV[3],
    listed[i])
  if changed > 0 or redis.call('ZSCORE', ARGV[1] .. queue .. ARGV[2], listed[i]) then
    due = due + 1
    woken[queue] = true
  end
end
for queue in pairs(woken) do redis.call('PUBLISH', ARGV[4], queue) end
return due
"""

# KEYS: the held set, the held messages, the Celery list, its bell (rung once per message
# pushed: workers/message_pops.py). ARGV: now (epoch s), at most.
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
    redis.call('LPUSH', KEYS[4], 1)
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
        self._release_circuit = client.register_script(_RELEASE_CIRCUIT)
        before, _, after = keys.sched_held("\0").partition("\0")
        self._held_name = (before, after)

    def hold(
        self,
        queue: str,
        job_id: str,
        message: bytes,
        look_at: float,
        *,
        record: HoldRecord | None = None,
    ) -> None:
        """Hold ``job_id`` for ``queue`` until ``look_at`` (epoch seconds). ``record``: the
        job's hold entry, written on its record in the same step, and, for an open circuit,
        the job listed under that circuit."""
        pipe = self.client.pipeline(transaction=True)
        pipe.hset(self.keys.sched_held_messages(queue), job_id, message)
        pipe.zadd(self.keys.sched_held(queue), {job_id: look_at})
        if record is not None:
            pipe.hset(self.keys.job(job_id), "held", record.to_json())
            if record.error_class == "CircuitOpen":
                index = self.keys.sched_held_for_circuit(record.provider, record.model)
                pipe.hset(index, job_id, queue)
                pipe.expire(index, CIRCUIT_INDEX_TTL_S)
        pipe.execute()

    def release_circuit(self, provider: str, model: str, now: float) -> int:
        """Make every job held for ``provider/model``'s circuit due now and wake its queues'
        dispatchers (the circuit closed); returns how many were made due."""
        return int(
            self._release_circuit(
                keys=[self.keys.sched_held_for_circuit(provider, model)],
                args=[*self._held_name, repr(now), self.keys.sched_wake_channel()],
            )
        )

    def release(self, queue: str, now: float, limit: int) -> int:
        """Move up to ``limit`` jobs whose look is due onto ``queue``; returns how many."""
        if limit <= 0:
            return 0
        keys = [self.keys.sched_held(queue), self.keys.sched_held_messages(queue), queue]
        keys.append(celery_queue_bell(queue))
        return int(self._release(keys=keys, args=[repr(now), limit]))

    def counts(self, queues: Sequence[str]) -> dict[str, int]:
        """Jobs held per queue, in one pipelined round trip."""
        pipe = self.client.pipeline(transaction=False)
        for queue in queues:
            pipe.zcard(self.keys.sched_held(queue))
        return dict(zip(queues, (int(n) for n in pipe.execute()), strict=True))
