"""Usage accounting: the counters of spend and tokens per tenant, provider, batch and period.

One Redis hash per (scope, name, period), e.g. ``provider`` ``openai`` ``day:2026-11-25``. Costs
are counted in integer nano-USD so that ``HINCRBY`` keeps them exact and atomic (a float counter
drifts); tokens as integers. The hashes are written by ``routing.spend.SpendLedger.settle`` in
the same script that settles a call's spend, so usage and spend never disagree; this module
names the layout and reads it back for ``cascade usage``.

A scope's hash also carries what calls in flight have reserved against the caps
(``reserved_nanos``, ``reserved_tokens``); that is not usage and the report shows it apart. A
call whose worker died mid-call is counted at what it reserved (its real cost is unknown, and
the provider may have billed it) under ``lost_calls`` instead of ``jobs``.

Every hash has a TTL (``DAY_TTL_S``, ``MONTH_TTL_S``, ``BATCH_TTL_S``, renewed on each write),
and so has the index that lists it: one set per period (``usage:index:day:2026-11-25``; a
batch's ``all`` row is listed under the day it was written, ``all:2026-11-25``), kept a day
longer than what it lists. ``cascade usage`` reads the indexes of the periods still alive.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

import redis

__all__ = [
    "BATCH_TTL_S",
    "DAY_TTL_S",
    "MONTH_TTL_S",
    "NANOS_PER_USD",
    "SCOPES",
    "UsageKeys",
    "UsageRow",
    "day_period",
    "index_period",
    "month_period",
    "period_end",
    "read_usage",
    "to_nanos",
]

NANOS_PER_USD = 1_000_000_000
SCOPES = ("tenant", "provider", "tenant_provider", "batch")
_DAY_S = 86_400
DAY_TTL_S = 40 * _DAY_S
MONTH_TTL_S = 400 * _DAY_S
BATCH_TTL_S = 7 * _DAY_S
_INT_FIELDS = (
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "jobs",
    "lost_calls",
    "reserved_tokens",
)


class UsageKeys(Protocol):
    """The key names this module needs; ``broker.keys.Keys`` provides them."""

    def usage(self, scope: str, name: str, period: str) -> str: ...

    def usage_index(self, period: str) -> str: ...

    def spend_hold(self, hold_id: str) -> str: ...


def to_nanos(usd: float) -> int:
    return round(usd * NANOS_PER_USD)


def day_period(now: datetime) -> str:
    """The UTC day a moment falls in, as a period name."""
    return f"day:{now.strftime('%Y-%m-%d')}"


def month_period(now: datetime) -> str:
    return f"month:{now.strftime('%Y-%m')}"


def period_end(kind: str, now: datetime) -> datetime:
    """When the UTC day (``kind`` ``day``) or calendar month (``month``) of ``now`` ends: the
    moment a cap of that period allows calls again."""
    start = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if kind == "day":
        return start + timedelta(days=1)
    first = start.replace(day=1)
    return (
        first.replace(year=first.year + 1, month=1)
        if first.month == 12
        else first.replace(month=first.month + 1)
    )


def index_period(period: str, now: datetime) -> str:
    """The index that lists a row of ``period`` written at ``now``: a day's and a month's rows
    are listed under their period, a batch's (``all``) under the day of the write."""
    return f"all:{now.strftime('%Y-%m-%d')}" if period == "all" else period


def _index_periods(period: str | None, now: datetime) -> list[str]:
    """Every index that can still list a live row of ``period`` (None: of any period)."""
    if period is not None and period != "all":
        return [period]
    days = [now - timedelta(days=back) for back in range(BATCH_TTL_S // _DAY_S + 2)]
    found = [index_period("all", day) for day in days]
    if period is None:
        found += [day_period(now - timedelta(days=back)) for back in range(DAY_TTL_S // _DAY_S + 2)]
        months = {month_period(now - timedelta(days=back)) for back in range(0, 400 + 31, 28)}
        found += sorted(months)
    return found


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
    lost_calls: int
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
    return all(value is None or getattr(row, field) == value for field, value in wanted.items())


def read_usage(
    client: redis.Redis,
    keys: UsageKeys,
    *,
    scope: str | None = None,
    name: str | None = None,
    period: str | None = None,
    now: datetime | None = None,
) -> list[UsageRow]:
    """Every counter row that matches (None matches all), sorted by scope, name and period.

    Rows whose hash has expired drop out of their index as they are read.
    """
    indexes = [keys.usage_index(item) for item in _index_periods(period, now or datetime.now(UTC))]
    pipe = client.pipeline(transaction=False)
    for index in indexes:
        pipe.smembers(index)
    listed: dict[bytes, str] = {}
    for index, members in zip(indexes, pipe.execute(), strict=True):
        listed.update(dict.fromkeys(members, index))
    names: Sequence[bytes] = sorted(listed)
    pipe = client.pipeline(transaction=False)
    for key in names:
        pipe.hgetall(key)
    rows: list[UsageRow] = []
    gone: dict[str, list[bytes]] = {}
    wanted = {"scope": scope, "name": name, "period": period}
    for key, fields in zip(names, pipe.execute(), strict=True):
        row = _row(fields) if fields else None
        if row is None:
            gone.setdefault(listed[key], []).append(key)
        elif _matches(row, wanted):
            rows.append(row)
    for index, members in gone.items():
        client.srem(index, *members)
    return sorted(rows, key=lambda row: (row.scope, row.name, row.period))
