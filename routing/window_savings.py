"""What time-of-day prices saved: per tenant, the cost of each answered call at the price in
force when its job was submitted, less what it cost at the price of its call's start. A job
held for an off-peak window saves the window's discount; a job that ran at once saves nothing;
one that waited in a backlog into a dearer window counts a negative saving. ``cascade usage``
prints the totals next to offloading's.

The counter is one hash of nano-USD per tenant, bounded by the tenants a deployment serves, as
``offload:saved`` is. It is added to in the round trip that settles the call's spend, only for
models with price windows, so other calls pay nothing for it.
"""

from __future__ import annotations

from typing import Protocol

import redis

from broker.jobs import CompletionJob, Usage
from broker.script_batch import ScriptCall
from routing.catalog import Catalog, ModelConfig
from routing.estimate import actual_cost_usd, priced_at
from routing.usage import NANOS_PER_USD, to_nanos

__all__ = ["WindowSavings", "saving_calls"]

# KEYS: the savings hash. ARGV: tenant, nano-USD.
_ADD = "return redis.call('HINCRBY', KEYS[1], ARGV[1], ARGV[2])"


class _SavingsKeys(Protocol):
    def offpeak_saved(self) -> str: ...


class WindowSavings:
    """The savings counter in Redis. Thread-safe (redis-py pools)."""

    def __init__(self, client: redis.Redis, keys: _SavingsKeys) -> None:
        self.client = client
        self.keys = keys
        self._add = client.register_script(_ADD)

    def add_call(self, tenant: str, nanos: int) -> ScriptCall[int]:
        return ScriptCall(self._add, [self.keys.offpeak_saved()], [tenant, nanos], parse=int)

    def saved(self) -> dict[str, float]:
        """USD saved per tenant, all time."""
        raw = self.client.hgetall(self.keys.offpeak_saved())
        return {_text(name): int(value) / NANOS_PER_USD for name, value in raw.items()}


def saving_calls(
    savings: WindowSavings | None,
    catalog: Catalog,
    job: CompletionJob,
    model: ModelConfig,
    usage: Usage,
    cost_usd: float,
) -> list[ScriptCall[int]]:
    """The counter's addition for one answered call of ``job`` on ``model`` (as priced at the
    call's start) that cost ``cost_usd``; none when the model has no windows or nothing was
    saved."""
    if savings is None or not model.price_windows:
        return []
    at_submit = priced_at(catalog.model(model.name), job.envelope.created_at)
    nanos = to_nanos(actual_cost_usd(at_submit, usage) - cost_usd)
    return [savings.add_call(job.envelope.tenant, nanos)] if nanos else []


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
