"""Deliveries waiting to be sent, in Redis: one due set per tenant, and the set of tenants.

Each tenant's deliveries wait in a sorted set of their own, scored by when each is due, and a
``tenants`` sorted set holds every tenant with something waiting, scored by its earliest due
time. A dispatcher reads the tenants that are due and leases a few deliveries from each (the
lease pushes each delivery's due time to the end of the lease, so no other dispatcher sends it
meanwhile, and a dispatcher that dies mid-send leaves it due again rather than lost). So one
tenant's thousand deliveries are one entry among the tenants, not a thousand ahead of another's.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import cast

import redis

from broker.keys import Keys

__all__ = ["REFRESH_HEAD", "DeliveryQueues", "DueTenant"]

# Lua, with KEYS[1] = a tenant's due set, KEYS[2] = the tenants set, ARGV[2] = the tenant: the
# tenant's score becomes its earliest due time, or it leaves the set when nothing is left.
REFRESH_HEAD = """
local head = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if #head == 0 then
  redis.call('ZREM', KEYS[2], ARGV[2])
else
  redis.call('ZADD', KEYS[2], head[2], ARGV[2])
end
"""

# KEYS: due set, tenants, watched set, webhook hash, delivery hash. ARGV: delivery id, tenant,
# subject, fields JSON (strings only), now, delivery ttl. Only one dispatcher turns a subject
# into a delivery: the one whose ZREM takes it off the watched set.
_SCHEDULE = """
if redis.call('ZREM', KEYS[3], ARGV[3]) == 0 then
  return 0
end
redis.call('DEL', KEYS[4])
for name, value in pairs(cjson.decode(ARGV[4])) do
  redis.call('HSET', KEYS[5], name, value)
end
redis.call('EXPIRE', KEYS[5], ARGV[6])
redis.call('ZADD', KEYS[1], ARGV[5], ARGV[1])
""" + REFRESH_HEAD + """
return 1
"""

# KEYS: due set, tenants. ARGV: now, tenant, lease until, how many.
_LEASE = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[4])
for _, id in ipairs(due) do
  redis.call('ZADD', KEYS[1], ARGV[3], id)
end
""" + REFRESH_HEAD + """
return due
"""

# KEYS: due set, tenants, delivery hash. ARGV: delivery id, tenant. Sent: nothing is kept.
_DONE = """
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[3])
""" + REFRESH_HEAD

# KEYS: due set, tenants, delivery hash. ARGV: delivery id, tenant, due at, attempts, error.
# Only a delivery that still exists is put back (one that expired is dropped).
_RETRY = """
if redis.call('EXISTS', KEYS[3]) == 1 then
  redis.call('HSET', KEYS[3], 'attempts', ARGV[4], 'last_error', ARGV[5])
  redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
else
  redis.call('ZREM', KEYS[1], ARGV[1])
end
""" + REFRESH_HEAD


@dataclass(frozen=True, slots=True)
class DueTenant:
    tenant: str
    due_at: float  # the tenant's earliest due (or leased-until) time


class DeliveryQueues:
    """The per-tenant due sets and the tenants set, behind one small interface."""

    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        self.redis = client
        self.keys = keys
        self._schedule = client.register_script(_SCHEDULE)
        self._lease = client.register_script(_LEASE)
        self._done = client.register_script(_DONE)
        self._retry = client.register_script(_RETRY)

    def _tenant_keys(self, tenant: str) -> list[str]:
        return [self.keys.webhooks_tenant_due(tenant), self.keys.webhooks_tenants()]

    def schedule(
        self,
        subject: str,
        delivery_id: str,
        fields: Mapping[str, str],
        *,
        now: float,
        ttl_s: int,
    ) -> bool:
        """Make ``subject``'s delivery due now; False if another dispatcher did already."""
        tenant = fields["tenant"]
        keys = [
            *self._tenant_keys(tenant),
            self.keys.webhooks_watched(),
            self.keys.webhook(subject),
            self.keys.webhook_delivery(delivery_id),
        ]
        body = json.dumps(dict(fields))
        args: list[str | int] = [delivery_id, tenant, subject, body, repr(now), ttl_s]
        return bool(self._schedule(keys=keys, args=args))

    def due_tenants(self, limit: int) -> list[DueTenant]:
        """The tenants with deliveries waiting, earliest due first."""
        rows = cast(
            list[tuple[bytes, float]],
            self.redis.zrange(self.keys.webhooks_tenants(), 0, limit - 1, withscores=True),
        )
        return [DueTenant(_text(name), float(score)) for name, score in rows]

    def lease(
        self, wanted: Mapping[str, int], *, now: float, lease_s: float
    ) -> dict[str, list[str]]:
        """Up to ``wanted[tenant]`` due delivery ids of each tenant, leased; one round trip."""
        tenants = [tenant for tenant, count in wanted.items() if count > 0]
        if not tenants:
            return {}
        pipe = self.redis.pipeline(transaction=False)
        for tenant in tenants:
            self._lease(
                keys=self._tenant_keys(tenant),
                args=[repr(now), tenant, repr(now + lease_s), wanted[tenant]],
                client=pipe,
            )
        answers = cast(list[Sequence[bytes]], pipe.execute())
        return {
            tenant: [_text(i) for i in ids]
            for tenant, ids in zip(tenants, answers, strict=True)
        }

    def done(self, tenant: str, delivery_id: str) -> None:
        keys = [*self._tenant_keys(tenant), self.keys.webhook_delivery(delivery_id)]
        self._done(keys=keys, args=[delivery_id, tenant])

    def retry(
        self, tenant: str, delivery_id: str, *, due_at: float, attempts: int, error: str
    ) -> None:
        keys = [*self._tenant_keys(tenant), self.keys.webhook_delivery(delivery_id)]
        self._retry(keys=keys, args=[delivery_id, tenant, repr(due_at), attempts, error[:300]])

    def read(self, delivery_id: str) -> dict[str, str]:
        raw = cast(dict[bytes, bytes], self.redis.hgetall(self.keys.webhook_delivery(delivery_id)))
        return {_text(name): _text(value) for name, value in raw.items()}


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
