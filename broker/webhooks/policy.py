"""How deliveries are retried, bounded and shared out: the dispatcher's typed knobs."""

from __future__ import annotations

import random
from dataclasses import dataclass

from broker.settings import Settings

__all__ = ["DeliveryPolicy", "backoff_s"]


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    max_attempts: int = 8
    base_backoff_s: float = 1.0
    max_backoff_s: float = 300.0
    timeout_s: float = 10.0
    # How long a dispatcher holds a delivery it is sending before another may take it.
    lease_s: float = 60.0
    # Senders of one dispatcher, and how many one tenant may hold: a tenant's backlog or slow
    # receiver delays another tenant's delivery by at most one send per free sender.
    concurrency: int = 16
    tenant_in_flight: int = 4
    # Events wake the dispatcher; the sweep only finds what an event missed.
    sweep_interval_s: float = 120.0
    # Most tenants looked at in one round of leases.
    max_tenants: int = 1000
    # A pending delivery expires after this (far longer than every retry takes).
    delivery_ttl_s: int = 7 * 24 * 3600
    failed_ttl_s: int = 7 * 24 * 3600
    failed_max: int = 10_000

    @classmethod
    def from_settings(cls, settings: Settings) -> DeliveryPolicy:
        return cls(
            concurrency=settings.webhook_concurrency,
            tenant_in_flight=settings.webhook_tenant_in_flight,
            sweep_interval_s=settings.webhook_sweep_interval_s,
            delivery_ttl_s=settings.result_ttl_s,
            failed_ttl_s=settings.webhook_failed_ttl_s,
            failed_max=settings.webhook_failed_max,
        )


def backoff_s(attempt: int, *, base_s: float, cap_s: float, jitter: float = 0.0) -> float:
    """Exponential backoff before attempt ``attempt + 1``: base * 2^(attempt-1), capped."""
    delay = min(cap_s, base_s * 2 ** max(attempt - 1, 0))
    return float(delay * (1 - jitter * random.random()))
