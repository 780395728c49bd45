"""The offload's Redis state, each change in one Lua script: parked jobs (the scheduler's sets
of the queue ``offload.<provider>``), the claims that tie a parked job to one provider batch,
the records of those batches, and the leases that let several pollers share them.

A parked job stays in its parking set until it ends or falls back, whatever happens to the
poller: a claim only says which record holds its line. So a SIGKILLed poller leaves every job
either parked (a later poller sees it again) or answered (its result is written with SET NX by
the job store, and the parked entry of a job with a result is dropped, never queued).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import cast

import redis

from broker.keys import Keys
from broker.offload.choice import parking_queue
from broker.scheduler.picking import LEVELS

__all__ = ["OffloadState", "ParkedJob"]

# KEYS: claims, record, records set, lease. ARGV: record id, lease token, lease ttl, the
# number of record fields f, then f field/value pairs, then the job ids; KEYS[5..] the
# parking messages hash of the provider.
# A job is claimed when it is still parked and no record holds it. Returns the claimed ids.
_CLAIM = """
local f = tonumber(ARGV[4])
local claimed = {}
for i = 5 + 2 * f, #ARGV do
  local id = ARGV[i]
  if redis.call('HEXISTS', KEYS[5], id) == 1 and redis.call('HSETNX', KEYS[1], id, ARGV[1]) == 1
  then
    table.insert(claimed, id)
  end
end
if #claimed == 0 then return claimed end
for i = 5, 4 + 2 * f, 2 do redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]) end
redis.call('HSET', KEYS[2], 'lines', table.concat(claimed, ' '))
redis.call('SADD', KEYS[3], ARGV[1])
redis.call('SET', KEYS[4], ARGV[2], 'EX', ARGV[3])
return claimed
"""

# KEYS: lease. ARGV: token, ttl. Take a free lease or renew one's own; 1 if held.
_LEASE = """
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return 1
"""

# KEYS: parking waiting set, parking tenant set, parking messages, the job's queue: waiting set,
# tenant set, messages, passes; then the result key and claims. ARGV: job id, tenant, priority,
# wake channel, the job's queue name, record id ('' for any holder).
# The job leaves its parking and, unless it has ended (or another record holds it), joins its
# own queue's sets with the same score and message, as the submit script would have put it.
# Returns 1 moved, 0 not parked (or ended: then dropped), -1 held by another record.
_FALL_BACK = """
local id = ARGV[1]
local holder = redis.call('HGET', KEYS[9], id)
if ARGV[6] ~= '' and holder and holder ~= ARGV[6] then return -1 end
local score = redis.call('ZSCORE', KEYS[1], id)
local message = redis.call('HGET', KEYS[3], id)
redis.call('ZREM', KEYS[1], id)
redis.call('HDEL', KEYS[3], id)
redis.call('HDEL', KEYS[9], id)
if redis.call('EXISTS', KEYS[1]) == 0 then redis.call('SREM', KEYS[2], ARGV[2]) end
if not score or not message or redis.call('EXISTS', KEYS[8]) == 1 then return 0 end
redis.call('ZADD', KEYS[4], score, id)
redis.call('HSET', KEYS[6], id, message)
if redis.call('SADD', KEYS[5], ARGV[2]) == 1 then
  local field = ARGV[3] .. ':' .. ARGV[2]
  local now = tonumber(redis.call('HGET', KEYS[7], ARGV[3]) or '0')
  if tonumber(redis.call('HGET', KEYS[7], field) or '0') < now then
    redis.call('HSET', KEYS[7], field, now)
  end
end
redis.call('PUBLISH', ARGV[4], ARGV[5])
return 1
"""

# KEYS: parking waiting set, parking tenant set, parking messages, claims. ARGV: job id,
# tenant. An answered job leaves its parking for good.
_UNPARK = """
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
redis.call('HDEL', KEYS[4], ARGV[1])
if redis.call('EXISTS', KEYS[1]) == 0 then redis.call('SREM', KEYS[2], ARGV[2]) end
return 1
"""

# KEYS: record, records set, lease, claims, due set, the provider's batch index. ARGV: record
# id. The record's claims that are still its own are let go (their jobs parked again for the
# next batch), its provider batch leaves the index, then it is deleted.
_CLOSE = """
local lines = redis.call('HGET', KEYS[1], 'lines') or ''
for id in string.gmatch(lines, '%S+') do
  if redis.call('HGET', KEYS[4], id) == ARGV[1] then redis.call('HDEL', KEYS[4], id) end
end
local batch = redis.call('HGET', KEYS[1], 'batch_id')
if batch and redis.call('HGET', KEYS[6], batch) == ARGV[1] then
  redis.call('HDEL', KEYS[6], batch)
end
redis.call('DEL', KEYS[1], KEYS[3])
redis.call('SREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[5], ARGV[1])
return 1
"""

# KEYS: record, the provider's batch index, due set, the batch's early webhook. ARGV: record
# id, provider batch id, when it is first polled, now, wake channel. Only a record still open
# takes its batch id (a close won the race). A webhook that came first makes it due now.
_SUBMITTED = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'batch_id', ARGV[2])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[1])
local early = redis.call('GET', KEYS[4])
if early then
  redis.call('DEL', KEYS[4])
  redis.call('HSET', KEYS[1], 'webhook', early)
  redis.call('ZADD', KEYS[3], ARGV[4], ARGV[1])
  redis.call('PUBLISH', ARGV[5], ARGV[1])
  return 2
end
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
return 1
"""

# KEYS: record, due set. ARGV: record id, next poll time, the provider batch's state. Only for
# a record still open, so that a closed one leaves no entry behind.
_SCHEDULE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'provider_state', ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
return 1
"""


@dataclass(frozen=True, slots=True)
class ParkedJob:
    job_id: str
    tenant: str
    priority: str
    fall_back_at: float  # Unix time: the parking set's score


class OffloadState:
    """Thread-safe (redis-py pools its connections)."""

    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        self.client = client
        self.keys = keys
        self._claim = client.register_script(_CLAIM)
        self._lease = client.register_script(_LEASE)
        self._fall_back = client.register_script(_FALL_BACK)
        self._unpark = client.register_script(_UNPARK)
        self._close = client.register_script(_CLOSE)
        self._submitted = client.register_script(_SUBMITTED)
        self._schedule = client.register_script(_SCHEDULE)

    # --- reading -----------------------------------------------------------------------

    def parked(self, provider: str) -> list[ParkedJob]:
        """Every job parked for ``provider``, soonest fall-back first."""
        queue = parking_queue(provider)
        found: list[ParkedJob] = []
        for level in LEVELS:
            tenants = self.client.smembers(self.keys.sched_tenants(queue, level.value))
            for raw in tenants:
                tenant = _text(raw)
                waiting = self.keys.sched_waiting(queue, level.value, tenant)
                entries = self.client.zrange(waiting, 0, -1, withscores=True)
                for member, score in cast(list[tuple[bytes, float]], entries):
                    found.append(ParkedJob(_text(member), tenant, level.value, float(score)))
        return sorted(found, key=lambda job: job.fall_back_at)

    def claims(self, job_ids: Sequence[str]) -> list[str | None]:
        if not job_ids:
            return []
        raw = self.client.hmget(self.keys.offload_claims(), list(job_ids))
        return [None if value is None else _text(value) for value in raw]

    def ended(self, job_ids: Sequence[str]) -> list[bool]:
        """Whether each job has its final result, in one round trip."""
        pipe = self.client.pipeline(transaction=False)
        for job_id in job_ids:
            pipe.exists(self.keys.result(job_id))
        return [bool(found) for found in pipe.execute()] if job_ids else []

    def records(self) -> list[str]:
        return sorted(_text(item) for item in self.client.smembers(self.keys.offload_records()))

    def record(self, record_id: str) -> dict[str, str]:
        raw = self.client.hgetall(self.keys.offload_record(record_id))
        return {_text(name): _text(value) for name, value in raw.items()}

    def job_fields(self, job_id: str) -> dict[str, str]:
        raw = self.client.hgetall(self.keys.job(job_id))
        return {_text(name): _text(value) for name, value in raw.items()}

    # --- writing -----------------------------------------------------------------------

    def claim(
        self,
        provider: str,
        record_id: str,
        fields: Mapping[str, str],
        job_ids: Iterable[str],
        *,
        token: str,
        lease_s: int,
    ) -> list[str]:
        """Open a record for the jobs of ``job_ids`` still parked and unclaimed; its lease is
        taken by ``token``. Returns the ids it holds, in order (none: no record)."""
        pairs = [item for pair in fields.items() for item in pair]
        keys = [
            self.keys.offload_claims(),
            self.keys.offload_record(record_id),
            self.keys.offload_records(),
            self.keys.offload_lease(record_id),
            self.keys.sched_messages(parking_queue(provider)),
        ]
        args: list[str | int] = [record_id, token, lease_s, len(fields), *pairs, *job_ids]
        return [_text(item) for item in self._claim(keys=keys, args=args)]

    def lease(self, name: str, token: str, ttl_s: int) -> bool:
        return bool(self._lease(keys=[self.keys.offload_lease(name)], args=[token, ttl_s]))

    def set_fields(self, record_id: str, fields: Mapping[str, str]) -> None:
        pipe = self.client.pipeline(transaction=False)
        for name, value in fields.items():
            pipe.hset(self.keys.offload_record(record_id), name, value)
        pipe.execute()

    def fall_back(
        self, provider: str, job: ParkedJob, queue: str, *, record_id: str = ""
    ) -> int:
        """Send a parked job to its own queue (1), drop it if it ended (0); -1 when another
        record than ``record_id`` holds it."""
        parking = parking_queue(provider)
        keys = [
            self.keys.sched_waiting(parking, job.priority, job.tenant),
            self.keys.sched_tenants(parking, job.priority),
            self.keys.sched_messages(parking),
            self.keys.sched_waiting(queue, job.priority, job.tenant),
            self.keys.sched_tenants(queue, job.priority),
            self.keys.sched_messages(queue),
            self.keys.sched_passes(queue),
            self.keys.result(job.job_id),
            self.keys.offload_claims(),
        ]
        args = [job.job_id, job.tenant, job.priority, self.keys.sched_wake_channel(), queue,
                record_id]
        return int(self._fall_back(keys=keys, args=args))

    def unpark(self, provider: str, job: ParkedJob) -> None:
        parking = parking_queue(provider)
        keys = [
            self.keys.sched_waiting(parking, job.priority, job.tenant),
            self.keys.sched_tenants(parking, job.priority),
            self.keys.sched_messages(parking),
            self.keys.offload_claims(),
        ]
        self._unpark(keys=keys, args=[job.job_id, job.tenant])

    def close(self, record_id: str, provider: str = "") -> None:
        """Delete a record, letting go of the claims it still holds."""
        keys = [
            self.keys.offload_record(record_id),
            self.keys.offload_records(),
            self.keys.offload_lease(record_id),
            self.keys.offload_claims(),
            self.keys.offload_due(),
            self.keys.offload_batches(provider),
        ]
        self._close(keys=keys, args=[record_id])

    # --- when each provider batch is looked at -------------------------------------------

    def submitted(self, record_id: str, provider: str, batch_id: str, first_poll: float) -> None:
        """The provider accepted the record's batch: its id on the record and in the index a
        webhook is matched by, and its first poll time."""
        keys = [self.keys.offload_record(record_id), self.keys.offload_batches(provider),
                self.keys.offload_due(), self.keys.offload_early_webhook(provider, batch_id)]
        args: list[str | float] = [record_id, batch_id, first_poll, time.time(),
                                   self.keys.offload_wake_channel()]
        self._submitted(keys=keys, args=args)

    def schedule(self, record_id: str, at: float, provider_state: str) -> None:
        keys = [self.keys.offload_record(record_id), self.keys.offload_due()]
        self._schedule(keys=keys, args=[record_id, at, provider_state])

    def due(self, now: float) -> list[str]:
        """The open records to poll now: due by their time, or without one (a record made
        before its time was kept, or whose time was lost with a Redis restart)."""
        records = self.records()
        if not records:
            return []
        scores = self.client.zmscore(self.keys.offload_due(), records)
        return [r for r, at in zip(records, scores, strict=True) if at is None or at <= now]

    def next_due(self) -> float | None:
        """When the earliest record is due, or None when no record waits."""
        first = self.client.zrange(self.keys.offload_due(), 0, 0, withscores=True)
        return float(first[0][1]) if first else None

    def add_saved(self, tenant: str, nanos: int) -> None:
        if nanos > 0:
            self.client.hincrby(self.keys.offload_saved(), tenant, nanos)

    def saved(self) -> dict[str, float]:
        raw = self.client.hgetall(self.keys.offload_saved())
        return {_text(name): int(value) / 1e9 for name, value in raw.items()}


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
