"""Deliveries that used up their attempts: kept small and for a while, listed, replayed.

A given-up delivery keeps what a replay needs (subject, event, URL, tenant) and what an operator
reads (attempts, last error, when), not its body: the body can be a whole result, and a replay
rebuilds it from the subject while the result lives. Each one expires after
``failed_ttl_s``, and the index keeps at most ``failed_max`` (the oldest go first, hash and all).
A replay puts the delivery back on its tenant's due set under the same delivery id, so a
receiver that did process an earlier attempt can still drop the duplicate.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import redis

from broker.keys import Keys
from broker.webhooks.queues import REFRESH_HEAD
from broker.webhooks.wakeups import DUE_NOTICE

__all__ = ["FailedDelivery", "FailedDeliveries", "NotReplayed"]

# KEYS: due set, tenants, delivery hash, failed index. ARGV: delivery id, tenant, attempts,
# error, now, failed ttl, failed max, delivery key prefix.
_GIVE_UP = """
redis.call('ZREM', KEYS[1], ARGV[1])
""" + REFRESH_HEAD + """
if redis.call('EXISTS', KEYS[3]) == 0 then
  return 0
end
redis.call('HSET', KEYS[3], 'attempts', ARGV[3], 'last_error', ARGV[4], 'failed_at', ARGV[5])
redis.call('HDEL', KEYS[3], 'body')
redis.call('EXPIRE', KEYS[3], ARGV[6])
redis.call('ZADD', KEYS[4], ARGV[5], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', tonumber(ARGV[5]) - tonumber(ARGV[6]))
local extra = redis.call('ZCARD', KEYS[4]) - tonumber(ARGV[7])
if extra > 0 then
  for _, old in ipairs(redis.call('ZRANGE', KEYS[4], 0, extra - 1)) do
    redis.call('DEL', ARGV[8] .. old)
  end
  redis.call('ZREMRANGEBYRANK', KEYS[4], 0, extra - 1)
end
return 1
"""

# KEYS: due set, tenants, delivery hash, failed index. ARGV: delivery id, tenant, body, now,
# delivery ttl, webhooks channel, due notice. Only a delivery still in the index is replayed,
# and only once; the notice wakes the dispatchers.
_REPLAY = """
if redis.call('ZREM', KEYS[4], ARGV[1]) == 0 then
  return 0
end
if redis.call('EXISTS', KEYS[3]) == 0 then
  return -1
end
redis.call('HSET', KEYS[3], 'body', ARGV[3], 'attempts', 0, 'replayed_at', ARGV[4])
redis.call('HDEL', KEYS[3], 'failed_at')
redis.call('EXPIRE', KEYS[3], ARGV[5])
redis.call('ZADD', KEYS[1], ARGV[4], ARGV[1])
""" + REFRESH_HEAD + """
redis.call('PUBLISH', ARGV[6], ARGV[7])
return 1
"""

# payload(subject) -> (event name, JSON body) once the subject has ended, else None.
PayloadFor = Callable[[str], tuple[str, dict[str, Any]] | None]


class NotReplayed(Exception):
    """A failed delivery could not be replayed; the message says why."""


@dataclass(frozen=True, slots=True)
class FailedDelivery:
    id: str
    subject: str
    event: str
    url: str
    tenant: str
    attempts: int
    last_error: str
    failed_at: float


class FailedDeliveries:
    """The given-up deliveries: record one, list them, replay them."""

    def __init__(self, client: redis.Redis, keys: Keys, *, ttl_s: int, max_kept: int) -> None:
        self.redis = client
        self.keys = keys
        self.ttl_s = ttl_s
        self.max_kept = max_kept
        self._give_up = client.register_script(_GIVE_UP)
        self._replay = client.register_script(_REPLAY)

    def _keys(self, tenant: str, delivery_id: str) -> list[str]:
        return [
            self.keys.webhooks_tenant_due(tenant),
            self.keys.webhooks_tenants(),
            self.keys.webhook_delivery(delivery_id),
            self.keys.webhooks_failed(),
        ]

    def give_up(
        self, tenant: str, delivery_id: str, *, attempts: int, error: str, now: float
    ) -> None:
        """Take the delivery off its due set and keep it, without its body, as failed."""
        args: list[str | int] = [
            delivery_id, tenant, attempts, error[:300], repr(now), self.ttl_s, self.max_kept,
            self.keys.webhook_delivery(""),
        ]
        self._give_up(keys=self._keys(tenant, delivery_id), args=args)

    def ids(self, limit: int) -> list[str]:
        """The newest failed delivery ids, newest first."""
        raw = cast(list[bytes], self.redis.zrevrange(self.keys.webhooks_failed(), 0, limit - 1))
        return [item.decode() for item in raw]

    def newest(self, limit: int = 50) -> list[FailedDelivery]:
        """The newest failed deliveries, newest first (those whose record expired left out)."""
        ids = self.ids(limit)
        pipe = self.redis.pipeline(transaction=False)
        for delivery_id in ids:
            pipe.hgetall(self.keys.webhook_delivery(delivery_id))
        found = []
        for delivery_id, raw in zip(ids, pipe.execute(), strict=True):
            fields = {k.decode(): v.decode() for k, v in cast(dict[bytes, bytes], raw).items()}
            if "subject" in fields:
                found.append(_failed(delivery_id, fields))
        return found

    def replay(self, delivery_id: str, payload_for: PayloadFor, *, now: float, ttl_s: int) -> None:
        """Due again now, with a body rebuilt from its subject; NotReplayed says why not."""
        raw = cast(dict[bytes, bytes], self.redis.hgetall(self.keys.webhook_delivery(delivery_id)))
        fields = {k.decode(): v.decode() for k, v in raw.items()}
        if "failed_at" not in fields:
            raise NotReplayed(f"{delivery_id}: no failed delivery with this id (or it expired)")
        found = payload_for(fields["subject"])
        if found is None:
            raise NotReplayed(
                f"{delivery_id}: {fields['subject']} is gone (its result expired); nothing to send"
            )
        tenant = fields["tenant"]
        args: list[str | int] = [
            delivery_id, tenant, json.dumps(found[1]), repr(now), ttl_s,
            self.keys.webhooks_channel(), DUE_NOTICE,
        ]
        answer = int(self._replay(keys=self._keys(tenant, delivery_id), args=args))
        if answer != 1:
            raise NotReplayed(f"{delivery_id}: already replayed, or expired meanwhile")


def _failed(delivery_id: str, fields: dict[str, str]) -> FailedDelivery:
    return FailedDelivery(
        id=delivery_id,
        subject=fields["subject"],
        event=fields.get("event", ""),
        url=fields.get("url", ""),
        tenant=fields.get("tenant", ""),
        attempts=int(fields.get("attempts", "0")),
        last_error=fields.get("last_error", ""),
        failed_at=float(fields.get("failed_at", "0")),
    )
