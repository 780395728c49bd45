"""Writing new jobs: each record and its entry in the scheduler in one Lua script per chunk.

A new job does not go onto its Celery queue: it waits in the scheduler's sets for its queue,
priority and tenant (``broker/scheduler/``), with its first message beside it, until a
dispatcher picks it. The write wakes the dispatchers of the queues it added to whose Celery
list is below its low water mark (``broker/scheduler/wakes.py``); a fuller list is topped up
as its own deliveries drain it.

One script decides and writes, so nothing is checked on one round trip and written on another:

- a job id held by another tenant is refused (``IdTaken``), and nothing of the chunk is written;
- a job that names a batch must name one of its own tenant's (``ForeignBatch``);
- a job id the tenant already holds is left as it is and not queued again: a record is only ever
  written together with its scheduler entry, so "stored" means "stored and queued";
- a job of a batch being cancelled is not written (the cancel has ended it already);
- a job held for a cheaper price window goes to its queue's deferred set instead of its
  waiting set, with the entry it takes there when the window opens
  (``broker/scheduler/deferred.py``);
- a job whose queue is idle (nothing waits in its sets at any priority, no held job is due, its
  Celery list is shorter than the dispatch depth) goes onto the Celery list at once, as the
  dispatcher's next top-up would have put it, with no wake and no top-up: the common case of a
  broker that is not backlogged costs no scheduling work (issue 18). Only a chunk of one
  (queue, priority, tenant) group in arrival order takes this path, so it never changes whom
  the scheduler would have served first; a job with a deadline, a parked job and a deferred
  one always go through the sets.

Redis runs a script whole or not at all when memory runs out: its first write is refused when
``maxmemory`` was reached before it started, and once it has written it runs to the end. So a
Redis error part-way through a submit leaves whole chunks behind, never a record without its
entry, and the same submit retried writes exactly the jobs that are missing.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import redis

from broker.jobs import Priority
from broker.keys import Keys, celery_queue_bell
from broker.scheduler.wakes import low_water
from broker.script_batch import ScriptCall, run_script

__all__ = ["ForeignBatch", "IdTaken", "JobWriter", "NewJob", "Written"]

# KEYS: the n job hashes, their n result keys, then per group (queue, priority, tenant) its
# waiting set and its level's tenant set, then per queue its messages and passes hashes and its
# deferred set and entries, then the batch hashes, then per queue its Celery list, held set,
# the tenant sets of its three levels and its list's bell (rung once per message pushed:
# workers/message_pops.py), then the arrivals counter.
# ARGV: n, g, q, ttl, submitted_at, wake channel, then per group its queue index and priority,
# then the q queue names, then per job: tenant, job JSON, route JSON, batch id ('' when none),
# batch index (0 when none), group index, message, job id, deadline score ('' when none),
# not-before time ('' when none: a job held for a price window is deferred until then); then
# the dispatch depth, per queue '1' when its jobs may go straight onto its list, and the low
# water mark below which a list's dispatchers are woken.
# Returns {'ok', outcome per job} (1 written, 0 already the tenant's, 2 its batch is cancelled),
# or {'taken', i} / {'foreign_batch', i} with nothing written.
_WRITE = """
local n, g, q = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local per, first = 10, 7 + 2 * g + q
local queues, batches = 2 * n + 2 * g, 2 * n + 2 * g + 4 * q
local outcome = {}
for i = 1, n do
  local base = first + per * (i - 1)
  local tenant, batch = ARGV[base], tonumber(ARGV[base + 4])
  local cancelled = false
  if batch > 0 then
    local bkey = KEYS[batches + batch]
    if redis.call('HGET', bkey, 'tenant') ~= tenant then return {'foreign_batch', i} end
    cancelled = redis.call('HEXISTS', bkey, 'cancelling_at') == 1
  end
  local owner = redis.call('HGET', KEYS[i], 'tenant')
  if owner and owner ~= tenant then return {'taken', i} end
  if owner then
    outcome[i] = 0
  elseif cancelled then
    outcome[i] = 2
  elseif redis.call('EXISTS', KEYS[n + i]) == 1 then
    -- a result without a record: a line its batch's cancel ended before it was written
    return {'taken', i}
  else
    outcome[i] = 1
  end
end
local woken, room = {}, {}
local direct, depth = #KEYS - 6 * q, tonumber(ARGV[first + per * n])
-- How many more jobs the queue's list takes straight away: none unless the queue is idle.
local function room_in(queue)
  if room[queue] == nil then
    room[queue] = 0
    local k = direct + 6 * (queue - 1)
    if g == 1 and ARGV[first + per * n + queue] == '1'
        and redis.call('SCARD', KEYS[k + 2]) + redis.call('SCARD', KEYS[k + 3])
          + redis.call('SCARD', KEYS[k + 4]) == 0
        and #redis.call('ZRANGEBYSCORE', KEYS[k + 1], '-inf', ARGV[5], 'LIMIT', 0, 1) == 0 then
      room[queue] = depth - redis.call('LLEN', KEYS[k])
    end
  end
  return room[queue]
end
for i = 1, n do
  if outcome[i] == 1 then
    local base = first + per * (i - 1)
    local group = tonumber(ARGV[base + 5])
    local queue, level = tonumber(ARGV[5 + 2 * group]), ARGV[6 + 2 * group]
    redis.call('HSET', KEYS[i], 'job', ARGV[base + 1], 'route', ARGV[base + 2],
      'status', 'queued', 'hop', 0, 'submitted_at', ARGV[5], 'tenant', ARGV[base],
      'batch_id', ARGV[base + 3], 'priority', level)
    redis.call('EXPIRE', KEYS[i], ARGV[4])
    local score = ARGV[base + 8]
    local waiting, tenants = KEYS[2 * n + 2 * group - 1], KEYS[2 * n + 2 * group]
    local messages, passes = KEYS[queues + 4 * queue - 3], KEYS[queues + 4 * queue - 2]
    if score == '' and ARGV[base + 9] == '' and room_in(queue) > 0 then
      redis.call('LPUSH', KEYS[direct + 6 * (queue - 1)], ARGV[base + 6])
      redis.call('LPUSH', KEYS[direct + 6 * (queue - 1) + 5], 1)
      room[queue] = room[queue] - 1
    else
    if score == '' then score = 1e10 + redis.call('INCR', KEYS[#KEYS]) end
    redis.call('HSET', messages, ARGV[base + 7], ARGV[base + 6])
    if ARGV[base + 9] ~= '' then
      -- held for its price window: it takes this entry when the window opens
      redis.call('ZADD', KEYS[queues + 4 * queue - 1], ARGV[base + 9], ARGV[base + 7])
      redis.call('HSET', KEYS[queues + 4 * queue], ARGV[base + 7],
        level .. ' ' .. ARGV[base] .. ' ' .. score)
    else
      redis.call('ZADD', waiting, score, ARGV[base + 7])
      if redis.call('SADD', tenants, ARGV[base]) == 1 then
        -- back after a pause: start from the last pick's pass, with no credit for the pause
        local field = level .. ':' .. ARGV[base]
        local now = tonumber(redis.call('HGET', passes, level) or '0')
        if tonumber(redis.call('HGET', passes, field) or '0') < now then
          redis.call('HSET', passes, field, now)
        end
      end
      woken[queue] = true
    end
    end
  end
end
-- A list at or above its low water mark still feeds its workers, and the deliveries taking
-- from it wake the dispatchers once it is below (broker/scheduler/wakes.py): no wake now.
local low = tonumber(ARGV[first + per * n + q + 1])
for queue in pairs(woken) do
  if redis.call('LLEN', KEYS[direct + 6 * (queue - 1)]) < low then
    redis.call('PUBLISH', ARGV[6], ARGV[6 + 2 * g + queue])
  end
end
local reply = {'ok'}
for i = 1, n do reply[i + 1] = outcome[i] end
return reply
"""


class Written(IntEnum):
    """What the write did with one job."""

    ALREADY_STORED = 0  # the tenant's own job, stored and queued before
    WRITTEN = 1
    BATCH_CANCELLED = 2  # its batch was cancelled first: nothing left to run


@dataclass(frozen=True, slots=True)
class NewJob:
    """One job ready to write: its record's fields and its first message."""

    job_id: str
    tenant: str
    batch_id: str | None
    job_json: str
    route_json: str
    queue: str
    message: bytes
    priority: str = "standard"
    deadline: float | None = None  # epoch seconds
    not_before: float | None = None  # epoch seconds: held until its price window opens
    # False for a queue no dispatcher serves (a provider's parking queue): never straight on
    direct: bool = True


class IdTaken(Exception):
    """``job_id`` (at ``index`` of the chunk) is another tenant's; nothing was written."""

    def __init__(self, index: int, job_id: str) -> None:
        super().__init__(job_id)
        self.index = index
        self.job_id = job_id


class ForeignBatch(IdTaken):
    """The job at ``index`` names a batch that is not its tenant's; nothing was written."""


class JobWriter:
    """Writes chunks of new jobs (``_WRITE``); reads who holds ids, for the checks before."""

    def __init__(
        self, client: redis.Redis, keys: Keys, ttl_s: int, depth: int = 8, direct: bool = True
    ) -> None:
        self.client = client
        self.keys = keys
        self.ttl_s = ttl_s
        self.depth = depth  # Settings.dispatch_depth: how deep the fast path fills a list
        self.direct = direct  # Settings.dispatch_direct: whether the fast path is on at all
        self._write = client.register_script(_WRITE)

    def write(self, jobs: Sequence[NewJob]) -> list[Written]:
        """Write the chunk in one script; raises IdTaken or ForeignBatch, writing nothing."""
        queues: dict[str, int] = {}
        direct: dict[str, bool] = {}
        groups: dict[tuple[str, str, str], int] = {}
        batches: dict[str, int] = {}
        per_job: list[str | int | bytes] = []
        for job in jobs:
            queues.setdefault(job.queue, len(queues) + 1)
            direct[job.queue] = direct.get(job.queue, True) and job.direct
            group = groups.setdefault((job.queue, job.priority, job.tenant), len(groups) + 1)
            batch = batches.setdefault(job.batch_id, len(batches) + 1) if job.batch_id else 0
            per_job += [job.tenant, job.job_json, job.route_json, job.batch_id or "", batch]
            deadline = "" if job.deadline is None else f"{job.deadline:.6f}"
            not_before = "" if job.not_before is None else f"{job.not_before:.6f}"
            per_job += [group, job.message, job.job_id, deadline, not_before]
        args: list[str | int | bytes] = [len(jobs), len(groups), len(queues), self.ttl_s]
        args += [f"{time.time():.6f}", self.keys.sched_wake_channel()]
        for name, level, _ in groups:
            args += [queues[name], level]
        args += [*queues, *per_job, self.depth if self.direct else 0]
        args += ["1" if direct[name] else "0" for name in queues]
        args.append(low_water(self.depth))
        keys = [self.keys.job(job.job_id) for job in jobs]
        keys += [self.keys.result(job.job_id) for job in jobs]
        for name, level, tenant in groups:
            keys += [
                self.keys.sched_waiting(name, level, tenant),
                self.keys.sched_tenants(name, level),
            ]
        for name in queues:
            keys += [self.keys.sched_messages(name), self.keys.sched_passes(name)]
            keys += [self.keys.sched_deferred(name), self.keys.sched_deferred_entries(name)]
        keys += [self.keys.batch(batch_id) for batch_id in batches]
        for name in queues:
            keys += [name, self.keys.sched_held(name)]
            keys += [self.keys.sched_tenants(name, level.value) for level in Priority]
            keys.append(celery_queue_bell(name))
        keys.append(self.keys.sched_arrivals())
        reply: list[Any] = run_script(self.client, ScriptCall(self._write, keys, args))
        verdict = _text(reply[0])
        if verdict == "taken":
            index = int(reply[1]) - 1
            raise IdTaken(index, jobs[index].job_id)
        if verdict == "foreign_batch":
            index = int(reply[1]) - 1
            raise ForeignBatch(index, jobs[index].job_id)
        return [Written(int(item)) for item in reply[1:]]

    def owners(self, job_ids: Sequence[str]) -> list[str | None]:
        """The tenant holding each id (None when it is free), read in one round trip."""
        pipe = self.client.pipeline(transaction=False)
        for job_id in job_ids:
            pipe.hget(self.keys.job(job_id), "tenant")
        return [None if owner is None else _text(owner) for owner in pipe.execute()]

    def batch_owner(self, batch_id: str) -> str | None:
        owner = self.client.hget(self.keys.batch(batch_id), "tenant")
        return None if owner is None else _text(owner)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
