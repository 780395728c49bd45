"""The planner's view of the world right now, read from Redis: open circuits, observed latencies,
and the providers at or near a spend cap for the job's tenant, with the time it was read (which
prices the models with price windows).

A half-open circuit is left in the route, so that a job can be its probe.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from routing.catalog import Catalog
from routing.circuit import model_target
from routing.circuit_store import CircuitBreakers
from routing.latency import LatencyBook
from routing.planner import LiveState
from routing.spend import SpendLedger

__all__ = ["LiveStateReader", "live_state"]


def live_state(breakers: CircuitBreakers, catalog: Catalog) -> LiveState:
    """A ``LiveState`` whose ``open_circuits`` are the catalog's (provider, model name) pairs
    whose model circuit is open, read in one round trip."""
    targets = {
        (model.provider, model.name): model_target(model.provider, model.name)
        for model in catalog.models
    }
    open_now = breakers.open_targets(targets.values())
    return LiveState(
        open_circuits=frozenset(pair for pair, target in targets.items() if target in open_now)
    )


@dataclasses.dataclass
class LiveStateReader:
    """Everything the planner may use, for one tenant: three round trips.

    With ``max_age_s`` a tenant's state is read again only once it is that old, so a producer
    submitting many small batches does not read Redis for each. A plan made on state that much
    out of date costs at most a skipped hop: the worker checks circuits and caps again, in
    Redis, before every call. Thread-safe.
    """

    catalog: Catalog
    breakers: CircuitBreakers
    ledger: SpendLedger
    latency: LatencyBook
    max_age_s: float = 0.0
    clock: Callable[[], float] = time.monotonic
    _read: dict[str, tuple[float, LiveState]] = dataclasses.field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    _lock: threading.Lock = dataclasses.field(
        default_factory=threading.Lock, init=False, repr=False, compare=False
    )

    def read(self, tenant: str) -> LiveState:
        if self.max_age_s <= 0:
            return self._fresh(tenant)
        now = self.clock()
        with self._lock:
            kept = self._read.get(tenant)
        if kept is not None and now - kept[0] < self.max_age_s:
            return kept[1]
        state = self._fresh(tenant)
        with self._lock:
            self._read[tenant] = (now, state)
        return state

    def _fresh(self, tenant: str) -> LiveState:
        standing = self.ledger.standing(tenant)
        return dataclasses.replace(
            live_state(self.breakers, self.catalog),
            latencies=self.latency.snapshot(),
            capped=standing.capped,
            near_cap=standing.near_cap,
            tenant_near_cap=standing.tenant_near_cap,
            at=datetime.now(UTC),
        )
