"""The webhook dispatcher: turns ended subjects into deliveries and sends them, fairly.

Run in the HTTP API process (``cascade api``) or on its own (``cascade webhooks``); any number
may run against one Redis. It sleeps until something happens (``wakeups``): a job's end, a new
registration, one of its own sends finishing, the next retry falling due, or the slow safety
sweep of the watched subjects (``sweep_interval_s``). A subject that has ended becomes one
delivery (one Lua script: only one dispatcher wins it) on its tenant's due set (``queues``).
Free senders are shared round robin among the tenants that have something due, at most
``tenant_in_flight`` per tenant (``fairness``), so one tenant's backlog or slow receiver leaves
the other senders to everyone else. Each send goes to a checked address (``transport``);
deliveries that use up their attempts are kept, without their body, for a replay (``failed``).
"""

from __future__ import annotations

import json
import queue
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import cast

import httpx
import redis
import structlog

from broker.keys import Keys
from broker.settings import Settings
from broker.webhooks.failed import FailedDeliveries, PayloadFor
from broker.webhooks.fairness import share_senders
from broker.webhooks.policy import DeliveryPolicy, backoff_s
from broker.webhooks.queues import DeliveryQueues
from broker.webhooks.signing import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    signature_header,
)
from broker.webhooks.targets import TargetPolicy
from broker.webhooks.transport import (
    Resolver,
    SendOutcome,
    send_checked,
    system_resolver,
    webhook_http_client,
)
from broker.webhooks.wakeups import Wakeup, WakeupListener

__all__ = ["WebhookDispatcher"]

log = structlog.get_logger("cascade.webhooks")

# The longest the loop sleeps without looking at its stop event (no Redis command is sent).
_MAX_SLEEP_S = 1.0
_SWEEP_PAGE = 500


class WebhookDispatcher:
    """``run`` loops until stopped. Without ``policy`` or ``targets``, both are read from the
    environment's settings, so that every process applies the operator's configuration."""

    def __init__(
        self,
        client: redis.Redis,
        keys: Keys,
        *,
        payload_for: PayloadFor,
        secrets: Mapping[str, str],
        policy: DeliveryPolicy | None = None,
        http: httpx.Client | None = None,
        targets: TargetPolicy | None = None,
        resolver: Resolver = system_resolver,
    ) -> None:
        settings = Settings() if policy is None or targets is None else None
        self.redis = client
        self.keys = keys
        self.payload_for = payload_for
        self.secrets = secrets
        self.policy = policy or DeliveryPolicy.from_settings(cast(Settings, settings))
        self.targets = targets or TargetPolicy.from_settings(cast(Settings, settings))
        self.resolver = resolver
        self.http = http or webhook_http_client(self.policy.timeout_s, self.policy.concurrency)
        self.queues = DeliveryQueues(client, keys)
        self.failed = FailedDeliveries(
            client, keys, ttl_s=self.policy.failed_ttl_s, max_kept=self.policy.failed_max
        )
        self._inbox: queue.Queue[Wakeup] = queue.Queue()
        self._lock = threading.Lock()
        self._in_flight: dict[str, int] = {}
        self._turn = 0

    # --- the loop -----------------------------------------------------------------------

    def start_thread(self) -> tuple[threading.Thread, threading.Event]:
        stop = threading.Event()
        thread = threading.Thread(target=self.run, args=(stop,), name="webhooks", daemon=True)
        thread.start()
        return thread, stop

    def run(self, stop: threading.Event) -> None:
        listener = WakeupListener(self.redis, self.keys, self._inbox)
        listening = threading.Thread(
            target=listener.run, args=(stop,), name="webhooks-events", daemon=True
        )
        listening.start()
        with ThreadPoolExecutor(self.policy.concurrency, "webhooks-send") as senders:
            self._loop(stop, senders)
        listening.join(timeout=5)

    def _loop(self, stop: threading.Event, senders: ThreadPoolExecutor) -> None:
        # The listener asks for the first sweep once it has subscribed, so none is lost.
        next_sweep = time.monotonic() + self.policy.sweep_interval_s
        next_due: float | None = None
        while not stop.is_set():
            now = time.time()
            sleep = min(_MAX_SLEEP_S, max(next_sweep - time.monotonic(), 0.0))
            if next_due is not None:
                sleep = min(sleep, max(next_due - now, 0.0))
            wake = self._collect(sleep)
            try:
                lease = wake.due or (next_due is not None and time.time() >= next_due)
                if wake.sweep or time.monotonic() >= next_sweep:
                    self.sweep()
                    next_sweep = time.monotonic() + self.policy.sweep_interval_s
                    lease = True
                if wake.subjects and self.schedule(wake.subjects):
                    lease = True
                if lease:
                    next_due = self.lease_round(senders)
            except redis.RedisError:
                log.warning("webhook dispatcher: Redis unavailable; trying again")
                # What this wakeup named may be lost with it: sweep once Redis answers.
                next_sweep = time.monotonic()
                stop.wait(1.0)

    def _collect(self, timeout: float) -> Wakeup:
        """Every wakeup that arrives within ``timeout`` (at least the first), merged."""
        try:
            found = [self._inbox.get(timeout=timeout)] if timeout > 0 else []
        except queue.Empty:
            found = []
        while True:
            try:
                found.append(self._inbox.get_nowait())
            except queue.Empty:
                break
        return Wakeup(
            subjects=tuple(dict.fromkeys(s for item in found for s in item.subjects)),
            sweep=any(item.sweep for item in found),
            due=any(item.due for item in found),
        )

    # --- ended subjects -> deliveries -----------------------------------------------------

    def schedule(self, subjects: Iterable[str]) -> int:
        """Schedule each of ``subjects`` that is watched and has ended; one round trip for
        the ones that are not watched (most job events)."""
        candidates = list(dict.fromkeys(subjects))
        pipe = self.redis.pipeline(transaction=False)
        for subject in candidates:
            pipe.zscore(self.keys.webhooks_watched(), subject)
        scores = pipe.execute()
        return sum(
            self._schedule_subject(subject)
            for subject, score in zip(candidates, scores, strict=True)
            if score is not None
        )

    def sweep(self) -> int:
        """Look at every watched subject: schedule those that ended, forget those whose
        registration expired. The safety net for events a dispatcher missed."""
        scheduled = 0
        page: list[str] = []
        for raw, _ in self.redis.zscan_iter(self.keys.webhooks_watched(), count=_SWEEP_PAGE):
            page.append(_text(raw))
            if len(page) >= _SWEEP_PAGE:
                scheduled += self._sweep_page(page)
                page = []
        return scheduled + (self._sweep_page(page) if page else 0)

    def _sweep_page(self, subjects: list[str]) -> int:
        pipe = self.redis.pipeline(transaction=False)
        for subject in subjects:
            pipe.exists(self.keys.webhook(subject))
        exists = pipe.execute()
        expired = [s for s, found in zip(subjects, exists, strict=True) if not found]
        if expired:
            self.redis.zrem(self.keys.webhooks_watched(), *expired)
        return sum(self._schedule_subject(s) for s, found in zip(subjects, exists, strict=True)
                   if found)

    def _schedule_subject(self, subject: str) -> int:
        found = self.payload_for(subject)
        if found is None:
            return 0
        hook = cast(dict[bytes, bytes], self.redis.hgetall(self.keys.webhook(subject)))
        if not hook:
            self.redis.zrem(self.keys.webhooks_watched(), subject)
            return 0
        event, body = found
        fields = {
            "subject": subject,
            "event": event,
            "url": _text(hook[b"url"]),
            "tenant": _text(hook[b"tenant"]),
            "body": json.dumps(body),
            "attempts": "0",
            "created_at": repr(time.time()),
        }
        return int(
            self.queues.schedule(
                subject, uuid.uuid4().hex, fields, now=time.time(),
                ttl_s=self.policy.delivery_ttl_s,
            )
        )

    # --- due deliveries -> senders ----------------------------------------------------------

    def lease_round(self, senders: ThreadPoolExecutor) -> float | None:
        """Lease what is due, shared fairly among tenants, and hand it to the senders; returns
        when the next delivery not yet due falls due (None: nothing is waiting)."""
        rows = self.queues.due_tenants(self.policy.max_tenants)
        now = time.time()
        with self._lock:
            in_flight = dict(self._in_flight)
        free = self.policy.concurrency - sum(in_flight.values())
        wanted = share_senders(
            [row.tenant for row in rows if row.due_at <= now],
            in_flight,
            free=free,
            per_tenant=self.policy.tenant_in_flight,
            start=self._turn,
        )
        self._turn += 1
        leased = self.queues.lease(wanted, now=now, lease_s=self.policy.lease_s)
        for tenant, ids in leased.items():
            for delivery_id in ids:
                with self._lock:
                    self._in_flight[tenant] = self._in_flight.get(tenant, 0) + 1
                senders.submit(self._send, tenant, delivery_id)
        later = [row.due_at for row in rows if row.due_at > now]
        return min(later) if later else None

    def _send(self, tenant: str, delivery_id: str) -> None:
        try:
            self.deliver(tenant, delivery_id)
        except redis.RedisError:
            log.warning("webhook delivery: Redis unavailable; the lease will run out")
        except Exception:  # a bug must not take the sender's count with it
            log.exception("webhook delivery failed unexpectedly", delivery=delivery_id)
        finally:
            with self._lock:
                left = self._in_flight.get(tenant, 1) - 1
                if left > 0:
                    self._in_flight[tenant] = left
                else:
                    self._in_flight.pop(tenant, None)
            self._inbox.put(Wakeup(due=True))

    def deliver(self, tenant: str, delivery_id: str) -> bool:
        """Send one leased delivery once and settle it; True when the receiver took it."""
        fields = self.queues.read(delivery_id)
        if "body" not in fields:
            self.queues.done(tenant, delivery_id)
            return False
        attempt = int(fields["attempts"]) + 1
        outcome = self._post(fields, delivery_id)
        if outcome.error is None:
            self.queues.done(tenant, delivery_id)
            return True
        if outcome.permanent or attempt >= self.policy.max_attempts:
            self.failed.give_up(
                tenant, delivery_id, attempts=attempt, error=outcome.error, now=time.time()
            )
            log.warning("webhook given up", subject=fields["subject"], attempts=attempt,
                        error=outcome.error)
            return False
        wait = backoff_s(
            attempt, base_s=self.policy.base_backoff_s, cap_s=self.policy.max_backoff_s,
            jitter=0.2,
        )
        self.queues.retry(
            tenant, delivery_id, due_at=time.time() + wait, attempts=attempt, error=outcome.error
        )
        return False

    def _post(self, fields: Mapping[str, str], delivery_id: str) -> SendOutcome:
        secret = self.secrets.get(fields["tenant"])
        if not secret:
            return SendOutcome(f"no webhook secret for tenant {fields['tenant']!r}", True)
        body = fields["body"].encode()
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: signature_header(secret, body),
            DELIVERY_HEADER: delivery_id,
            EVENT_HEADER: fields["event"],
        }
        return send_checked(
            self.http, fields["url"], body=body, headers=headers, targets=self.targets,
            resolver=self.resolver,
        )


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
