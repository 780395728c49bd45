"""Opening a batch in Redis: its record, job lists and tenant entry in one script, all or nothing.

The record is written before any of the batch's jobs, marked ``enqueuing``, so that whatever
the enqueue manages to write is always the job of a batch the tenant can see and cancel. The
same script decides whose the id is: another tenant's id is refused in the step that would have
written it, and the tenant's own batch of that id is found again (a retried submit), not
rewritten. Opening also keeps the tenant's set bounded: entries older than the batches' TTL are
dropped, and the set itself expires with the newest batch in it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from broker.keys import Keys

__all__ = ["OPEN_SCRIPT", "BatchIdTaken", "open_call"]

# KEYS: batch hash, job ids list, custom ids list, the tenant's batch set.
# ARGV: tenant, total, ttl, now (seconds, as the set's score), batch id, number of record
# fields m, then m name/value pairs, then the total job ids, then the total custom ids.
# Returns 'created', 'resumed' (the tenant's batch of that id and size), 'taken' (another
# tenant's) or 'resized' (the tenant's, with another number of lines).
OPEN_SCRIPT = """
local owner = redis.call('HGET', KEYS[1], 'tenant')
if owner then
  if owner ~= ARGV[1] then return 'taken' end
  if redis.call('HGET', KEYS[1], 'total') ~= ARGV[2] then return 'resized' end
  return 'resumed'
end
local m, total = tonumber(ARGV[6]), tonumber(ARGV[2])
local fields = 6
for start = fields + 1, fields + 2 * m, 500 do
  redis.call('HSET', KEYS[1], unpack(ARGV, start, math.min(start + 499, fields + 2 * m)))
end
for list = 0, 1 do
  local first = fields + 2 * m + list * total + 1
  local last = first + total - 1
  for start = first, last, 500 do
    redis.call('RPUSH', KEYS[2 + list], unpack(ARGV, start, math.min(start + 499, last)))
  end
end
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', '(' .. (tonumber(ARGV[4]) - tonumber(ARGV[3])))
redis.call('ZADD', KEYS[4], ARGV[4], ARGV[5])
for i = 1, 4 do redis.call('EXPIRE', KEYS[i], ARGV[3]) end
return 'created'
"""


class BatchIdTaken(ValueError):
    """The batch id is another tenant's, or the tenant's own batch with another size."""

    def __init__(self, batch_id: str, *, tenant_holds: bool) -> None:
        why = "with another number of lines" if tenant_holds else "; choose another id"
        super().__init__(f"batch_id: {batch_id!r} is already taken{why}")
        self.batch_id = batch_id


def open_call(
    keys: Keys,
    batch_id: str,
    tenant: str,
    fields: Mapping[str, str],
    *,
    job_ids: Sequence[str],
    custom_ids: Sequence[str],
    now: float,
    ttl_s: int,
) -> tuple[list[str], list[str | int]]:
    """The KEYS and ARGV of one OPEN_SCRIPT call."""
    script_keys = [
        keys.batch(batch_id),
        keys.batch_jobs(batch_id),
        keys.batch_custom_ids(batch_id),
        keys.tenant_batches(tenant),
    ]
    args: list[str | int] = [tenant, len(job_ids), ttl_s, f"{now:.6f}", batch_id, len(fields)]
    for name, value in fields.items():
        args += [name, value]
    args += list(job_ids)
    args += list(custom_ids)
    return script_keys, args
