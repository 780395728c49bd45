"""Webhooks: a POST to the caller's URL when a job or a batch ends, signed, retried with backoff.

Signing: ``X-Cascade-Signature: t=<unix seconds>,v1=<hex>`` where ``v1`` is HMAC-SHA256, keyed by
the tenant's webhook secret, over ``<t>.<raw body>``. The timestamp is signed with the body so a
captured request cannot be replayed later (``verify_signature`` refuses one older than its
tolerance). Each attempt is signed afresh; ``X-Cascade-Delivery`` stays the same across the
attempts of one delivery, for the receiver to drop duplicates (delivery is at least once).

Who delivers: a ``WebhookDispatcher`` loop, run in the HTTP API process (``cascade api``) or on
its own (``cascade webhooks``); any number may run against one Redis. Registering a webhook
puts its subject (``job:<id>`` or ``batch:<id>``) in a watched set; the dispatcher polls the
watched subjects, turns each one that has ended into a delivery (one Lua script: only one
dispatcher wins it), and sends due deliveries, leasing each while it sends so that a dispatcher
that dies mid-send leaves it due again rather than lost.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast

import httpx
import redis
import structlog

from broker.keys import Keys

__all__ = [
    "DELIVERY_HEADER",
    "EVENT_HEADER",
    "SIGNATURE_HEADER",
    "DeliveryPolicy",
    "InvalidSignature",
    "WebhookDispatcher",
    "WebhookRegistry",
    "backoff_s",
    "sign",
    "signature_header",
    "verify_signature",
]

SIGNATURE_HEADER = "X-Cascade-Signature"
DELIVERY_HEADER = "X-Cascade-Delivery"
EVENT_HEADER = "X-Cascade-Event"

log = structlog.get_logger("cascade.webhooks")

# KEYS: watched set, delivery hash, due set. ARGV: subject, delivery fields as JSON, due time.
_SCHEDULE = """
if redis.call('ZREM', KEYS[1], ARGV[1]) == 0 then
  return 0
end
local fields = cjson.decode(ARGV[2])
for name, value in pairs(fields) do
  redis.call('HSET', KEYS[2], name, value)
end
redis.call('ZADD', KEYS[3], ARGV[3], KEYS[2])
return 1
"""

# KEYS: due set. ARGV: now, lease until, how many. Takes the due deliveries, pushing each one's
# due time to the end of its lease so no other dispatcher sends it meanwhile.
_LEASE = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[3])
for _, key in ipairs(due) do
  redis.call('ZADD', KEYS[1], ARGV[2], key)
end
return due
"""


# --- signatures -------------------------------------------------------------------------


class InvalidSignature(ValueError):
    """A webhook's signature header is missing, malformed, stale or does not match."""


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The hex HMAC-SHA256 of ``<timestamp>.<body>`` keyed by ``secret``."""
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_header(secret: str, body: bytes, timestamp: int | None = None) -> str:
    stamp = int(time.time()) if timestamp is None else timestamp
    return f"t={stamp},v1={sign(secret, body, stamp)}"


def verify_signature(
    secret: str,
    header: str | None,
    body: bytes,
    *,
    tolerance_s: float = 300,
    now: float | None = None,
) -> None:
    """Raise InvalidSignature unless ``header`` signs ``body`` with ``secret``, recently."""
    if not header:
        raise InvalidSignature(f"no {SIGNATURE_HEADER} header")
    parts = dict(item.split("=", 1) for item in header.split(",") if "=" in item)
    try:
        stamp = int(parts["t"])
        given = parts["v1"]
    except (KeyError, ValueError) as exc:
        raise InvalidSignature("malformed signature header") from exc
    current = time.time() if now is None else now
    if abs(current - stamp) > tolerance_s:
        raise InvalidSignature("signature timestamp outside the tolerance")
    if not hmac.compare_digest(sign(secret, body, stamp), given):
        raise InvalidSignature("signature does not match")


def backoff_s(attempt: int, *, base_s: float, cap_s: float, jitter: float = 0.0) -> float:
    """Exponential backoff before attempt ``attempt + 1``: base * 2^(attempt-1), capped."""
    delay = min(cap_s, base_s * 2 ** max(attempt - 1, 0))
    return float(delay * (1 - jitter * random.random()))


# --- registration -----------------------------------------------------------------------


class WebhookRegistry:
    """Registers a URL to be called when a subject (``job:<id>``, ``batch:<id>``) ends."""

    def __init__(self, client: redis.Redis, keys: Keys, ttl_s: int) -> None:
        self.redis = client
        self.keys = keys
        self.ttl_s = ttl_s

    def check_url(self, url: str) -> None:
        """Raise ValueError naming the reason unless ``url`` may receive webhooks. Callers
        check before they write anything, so that a refused URL leaves nothing behind."""
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"webhook URL must be http(s): {url!r}")

    def watch(self, subject: str, url: str, tenant: str) -> None:
        self.check_url(url)
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(self.keys.webhook(subject), mapping={"url": url, "tenant": tenant})
        pipe.expire(self.keys.webhook(subject), self.ttl_s)
        pipe.zadd(self.keys.webhooks_watched(), {subject: time.time()})
        pipe.execute()


# --- delivery ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    max_attempts: int = 8
    base_backoff_s: float = 1.0
    max_backoff_s: float = 300.0
    timeout_s: float = 10.0
    # How long a dispatcher holds a delivery it is sending before another may take it.
    lease_s: float = 60.0
    poll_interval_s: float = 0.5
    batch_size: int = 100


# payload(subject) -> (event name, JSON body) once the subject has ended, else None.
PayloadFor = Callable[[str], tuple[str, dict[str, Any]] | None]


class WebhookDispatcher:
    """Turns ended subjects into deliveries and sends them; ``run`` loops until stopped."""

    def __init__(
        self,
        client: redis.Redis,
        keys: Keys,
        *,
        payload_for: PayloadFor,
        secrets: Mapping[str, str],
        policy: DeliveryPolicy | None = None,
        http: httpx.Client | None = None,
    ) -> None:
        self.redis = client
        self.keys = keys
        self.payload_for = payload_for
        self.secrets = secrets
        self.policy = policy or DeliveryPolicy()
        self.http = http or httpx.Client(timeout=self.policy.timeout_s)
        self._schedule = client.register_script(_SCHEDULE)
        self._lease = client.register_script(_LEASE)

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self.step()
            except redis.RedisError:
                log.warning("webhook dispatcher: Redis unavailable; trying again")
            stop.wait(self.policy.poll_interval_s)

    def start_thread(self) -> tuple[threading.Thread, threading.Event]:
        stop = threading.Event()
        thread = threading.Thread(target=self.run, args=(stop,), name="webhooks", daemon=True)
        thread.start()
        return thread, stop

    def step(self) -> int:
        """Schedule what has ended, send what is due; returns the deliveries sent."""
        self.schedule_ended()
        return self.deliver_due()

    def schedule_ended(self) -> int:
        watched = cast(
            list[bytes],
            self.redis.zrange(self.keys.webhooks_watched(), 0, self.policy.batch_size * 10),
        )
        scheduled = 0
        for raw in watched:
            subject = _text(raw)
            found = self.payload_for(subject)
            if found is None:
                continue
            event, body = found
            hook = self.redis.hgetall(self.keys.webhook(subject))
            if not hook:
                self.redis.zrem(self.keys.webhooks_watched(), subject)
                continue
            fields = {
                "subject": subject,
                "event": event,
                "url": _text(hook[b"url"]),
                "tenant": _text(hook[b"tenant"]),
                "body": json.dumps(body),
                "attempts": 0,
            }
            delivery = self.keys.webhook_delivery(uuid.uuid4().hex)
            keys = [self.keys.webhooks_watched(), delivery, self.keys.webhooks_due()]
            scheduled += int(
                self._schedule(keys=keys, args=[subject, json.dumps(fields), time.time()])
            )
        return scheduled

    def deliver_due(self) -> int:
        now = time.time()
        leased = self._lease(
            keys=[self.keys.webhooks_due()],
            args=[now, now + self.policy.lease_s, self.policy.batch_size],
        )
        sent = 0
        for raw in leased:
            sent += int(self._deliver(_text(raw)))
        return sent

    def _deliver(self, delivery_key: str) -> bool:
        fields = {_text(k): _text(v) for k, v in self.redis.hgetall(delivery_key).items()}
        if not fields:
            self.redis.zrem(self.keys.webhooks_due(), delivery_key)
            return False
        attempt = int(fields["attempts"]) + 1
        error = self._post(fields, delivery_key)
        if error is None:
            pipe = self.redis.pipeline(transaction=True)
            pipe.zrem(self.keys.webhooks_due(), delivery_key)
            pipe.delete(delivery_key)
            pipe.execute()
            return True
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(delivery_key, mapping={"attempts": attempt, "last_error": error[:300]})
        if attempt >= self.policy.max_attempts or error.startswith("no webhook secret"):
            pipe.zrem(self.keys.webhooks_due(), delivery_key)
            pipe.zadd(self.keys.webhooks_failed(), {delivery_key: time.time()})
            log.warning("webhook given up", subject=fields["subject"], attempts=attempt)
        else:
            wait = backoff_s(
                attempt,
                base_s=self.policy.base_backoff_s,
                cap_s=self.policy.max_backoff_s,
                jitter=0.2,
            )
            pipe.zadd(self.keys.webhooks_due(), {delivery_key: time.time() + wait})
        pipe.execute()
        return False

    def _post(self, fields: Mapping[str, str], delivery_key: str) -> str | None:
        """Send once; None on a 2xx answer, else what went wrong."""
        secret = self.secrets.get(fields["tenant"])
        if not secret:
            return f"no webhook secret for tenant {fields['tenant']!r}"
        body = fields["body"].encode()
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: signature_header(secret, body),
            DELIVERY_HEADER: delivery_key.rsplit(":", 1)[-1],
            EVENT_HEADER: fields["event"],
        }
        try:
            response = self.http.post(fields["url"], content=body, headers=headers)
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}"
        if 200 <= response.status_code < 300:
            return None
        return f"HTTP {response.status_code}"


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
