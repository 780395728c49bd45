"""Usage accounting: the counters of spend and tokens per tenant, provider, batch and period.

One Redis hash per (scope, name, period), e.g. ``provider`` ``openai`` ``day:2026-11-25``. Costs
are counted in integer nano-USD so that ``HINCRBY`` keeps them exact and atomic (a float counter
drifts); tokens as integers. The hashes are written by ``routing.spend.SpendLedger.settle`` in
the same script that settles a call's spend, so usage and spend never disagree; this module
names the layout and reads it back for ``cascade usage``.

A scope's hash also carries what calls in flight have reserved against the caps
(``reserved_nanos``, ``reserved_tokens``); that is not usage and the report shows it apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import redis

__all__ = [
    "NANOS_PER_USD",
    "SCOPES",
    "UsageKeys",
    "UsageRow",
    "day_period",
    "month_period",
    "read_usage",
    "to_nanos",
]

NANOS_PER_USD = 1_000_000_000
SCOPES = ("tenant", "provider", "tenant_provider", "batch")
_INT_FIELDS = (
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "jobs",
    "reserved_tokens",
)


class UsageKeys(Protocol):
    """The key names this module needs; ``broker.keys.Keys`` provides them."""

    def usage(self, scope: str, name: str, period: str) -> str: ...

    def usage_index(self) -> str: ...

    def spend_hold(self, hold_id: str) -> str: ...


def to_nanos(usd: float) -> int:
    return round(usd * NANOS_PER_USD)


def day_period(now: datetime) -> str:
    """The UTC day a moment falls in, as a period name."""
    return f"day:{now.strftime('%Y-%m-%d')}"


def month_period(now: datetime) -> str:
    return f"month:{now.strftime('%Y-%m')}"


@dataclass(frozen=True, slots=True)
class UsageRow:
    scope: str
    name: str
    period: str
    cost_usd: float
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    jobs: int
    reserved_usd: float
    reserved_tokens: int


def _text(value: bytes | str | None) -> str:
    if value is None:
        return ""
    return value.decode() if isinstance(value, bytes) else value


def _row(fields: dict[bytes, bytes]) -> UsageRow | None:
    decoded = {_text(key): _text(value) for key, value in fields.items()}
    if "scope" not in decoded:
        return None
    numbers = {name: int(decoded.get(name) or 0) for name in _INT_FIELDS}
    return UsageRow(
        scope=decoded["scope"],
        name=decoded["name"],
        period=decoded["period"],
        cost_usd=int(decoded.get("cost_nanos") or 0) / NANOS_PER_USD,
        reserved_usd=int(decoded.get("reserved_nanos") or 0) / NANOS_PER_USD,
        **numbers,
    )


def _matches(row: UsageRow, wanted: dict[str, str | None]) -> bool:
    return all(
        value is None or getattr(row, field) == value for field, value in wanted.items()
    )


def read_usage(
    client: redis.Redis,
    keys: UsageKeys,
    *,
    scope: str | None = None,
    name: str | None = None,
    period: str | None = None,
) -> list[UsageRow]:
    """Every counter row that matches (None matches all), sorted by scope, name and period.

    Rows whose hash has expired drop out of the index as they are read.
    """
    index = keys.usage_index()
    names: Sequence[bytes] = sorted(client.smembers(index))  # type: ignore[arg-type]
    pipe = client.pipeline(transaction=False)
    for key in names:
        pipe.hgetall(key)
    rows: list[UsageRow] = []
    gone: list[bytes] = []
    wanted = {"scope": scope, "name": name, "period": period}
    for key, fields in zip(names, pipe.execute(), strict=True):
        row = _row(fields) if fields else None
        if row is None:
            gone.append(key)
        elif _matches(row, wanted):
            rows.append(row)
    if gone:
        client.srem(index, *gone)
    return sorted(rows, key=lambda row: (row.scope, row.name, row.period))
