"""The pure rules of spend caps: what a call may cost at most, how close a scope is to its caps,
and how the ledger's replies read. ``routing.spend.SpendLedger`` applies them in Redis.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum
from typing import Any

from broker.jobs import CompletionJob, CompletionRequest
from routing.catalog import ModelConfig, SpendCaps
from routing.estimate import estimate_cost_usd, output_token_ceiling, prompt_token_ceiling
from routing.usage import period_end, to_nanos

__all__ = [
    "CallEstimate",
    "CapLevel",
    "CapScope",
    "SpendGrant",
    "SpendStanding",
    "assess_caps",
    "call_ceiling",
    "cap_args",
    "estimate_call",
    "lasting_cap",
    "read_grant",
    "standing_of",
]


class CapLevel(IntEnum):
    OK = 0
    NEAR = 1
    CAPPED = 2


@dataclass(frozen=True, slots=True)
class CallEstimate:
    usd: float
    tokens: int


def estimate_call(job: CompletionJob, model: ModelConfig) -> CallEstimate:
    """What one call of the job on the model can cost at most, the amount reserved against the
    caps: the prompt's token ceiling at the input price plus every choice's output ceiling at
    the output price (``routing.estimate``). Not the planner's typical estimate: a call that
    cost more than it reserved could take a hard cap past its limit."""
    return call_ceiling(job.request, model)


def call_ceiling(request: CompletionRequest, model: ModelConfig) -> CallEstimate:
    """``estimate_call`` from the request alone (the planner has no job yet)."""
    prompt = prompt_token_ceiling(request)
    output = output_token_ceiling(request, model) * request.n
    return CallEstimate(estimate_cost_usd(model, prompt, output), prompt + output)


@dataclass(frozen=True, slots=True)
class CapScope:
    """One usage hash a call counts toward: (scope, name, period), its TTL and its caps."""

    scope: str
    name: str
    period: str
    ttl_s: int
    caps: SpendCaps | None = None
    period_kind: str = "day"


def _limits(caps: SpendCaps, period: str) -> tuple[float | None, int | None]:
    if period == "day":
        return caps.usd_per_day, caps.tokens_per_day
    return caps.usd_per_month, caps.tokens_per_month


def assess_caps(
    caps: SpendCaps | None, period: str, used_usd: float, used_tokens: int, extra: CallEstimate
) -> tuple[CapLevel, str | None]:
    """How close ``used`` + ``extra`` comes to the caps of one period (``day`` or ``month``).

    The same rule the reserve script applies, for the planner's snapshot and for tests.
    """
    if caps is None:
        return CapLevel.OK, None
    usd_cap, token_cap = _limits(caps, period)
    level, reason = CapLevel.OK, None
    checks = (
        ("usd", usd_cap, used_usd, extra.usd),
        ("tokens", token_cap, float(used_tokens), float(extra.tokens)),
    )
    for unit, cap, used, more in checks:
        if cap is None:
            continue
        shown = f"${used:.6f} of ${cap:.6f}" if unit == "usd" else f"{used:,.0f} of {cap:,}"
        if used + more > cap or (more == 0 and used >= cap):
            return CapLevel.CAPPED, f"{unit}_per_{period} cap reached ({shown})"
        if used + more >= caps.near_fraction * cap and level is CapLevel.OK:
            level = CapLevel.NEAR
            reason = f"near its {unit}_per_{period} cap ({shown}, near at {caps.near_fraction:.0%})"
    return level, reason


def lasting_cap(
    caps: SpendCaps | None, period: str, ceiling: CallEstimate, *, critical: bool
) -> str | None:
    """Why no window of ``period`` can ever allow a call that may cost ``ceiling``: its
    reservation alone is above a cap (or, for a non-critical job, at its near fraction, which
    the reserve script refuses such a job past), or None when an emptier window could."""
    if caps is None:
        return None
    usd_cap, token_cap = _limits(caps, period)
    for unit, cap, more in (("usd", usd_cap, ceiling.usd), ("tokens", token_cap, ceiling.tokens)):
        if cap is None:
            continue
        shown = f"${more:.6f} against ${cap:.6f}" if unit == "usd" else f"{more:,} against {cap:,}"
        if more > cap:
            return f"the call's reservation alone is above the {unit}_per_{period} cap ({shown})"
        if not critical and more >= caps.near_fraction * cap:
            return (
                f"the call's reservation alone is past {caps.near_fraction:.0%} of the"
                f" {unit}_per_{period} cap ({shown}), where non-critical jobs are refused"
            )
    return None


@dataclass(frozen=True, slots=True)
class SpendGrant:
    """The answer to ``reserve``: call, or skip this target (``reason`` says which cap).

    A refusal says when the cap's window ends (``resets_at``, the day's or month's end), and
    ``lasting`` when no window can ever allow the call (its reservation alone is too much)."""

    allowed: bool
    hold_id: str
    reason: str | None = None
    near: bool = False
    resets_at: datetime | None = None
    lasting: bool = False


@dataclass(frozen=True, slots=True)
class SpendStanding:
    """One tenant's view of the caps, to put into ``routing.planner.LiveState``."""

    capped: dict[str, str] = field(default_factory=dict)
    near_cap: dict[str, str] = field(default_factory=dict)
    tenant_near_cap: str | None = None


def cap_args(scope: CapScope) -> list[str | int | float]:
    """The reserve script's cap arguments for one scope: USD cap in nanos, token cap, near
    fraction (-1: no cap)."""
    if scope.caps is None:
        return [-1, -1, 1]
    usd, tokens = _limits(scope.caps, scope.period_kind)
    return [
        -1 if usd is None else to_nanos(usd),
        -1 if tokens is None else tokens,
        scope.caps.near_fraction,
    ]


def read_grant(
    scopes: list[CapScope],
    hold_id: str,
    reply: Sequence[Any],
    *,
    ceiling: CallEstimate | None = None,
    critical: bool = False,
    now: datetime | None = None,
) -> SpendGrant:
    """The reserve script's reply ``{level, key index, unit, used, cap}`` as a grant; a
    refusal is told apart as lasting (``lasting_cap`` of the refusing scope) or not, with its
    window's end when ``now`` is given."""
    level, index, unit, used, cap = reply
    if int(level) == 0:
        return SpendGrant(allowed=True, hold_id=hold_id)
    scope = scopes[int(index) - 1]
    reason = _reason(scope, int(level), _text(unit), _text(used), _text(cap))
    if int(level) == 1:
        return SpendGrant(allowed=True, hold_id=hold_id, reason=reason, near=True)
    never = None
    if ceiling is not None:
        never = lasting_cap(scope.caps, scope.period_kind, ceiling, critical=critical)
    return SpendGrant(
        allowed=False,
        hold_id=hold_id,
        reason=reason if never is None else f"{reason}; {never}: no window can allow it",
        near=True,
        resets_at=None if now is None else period_end(scope.period_kind, now),
        lasting=never is not None,
    )


def _text(value: bytes | str | int) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _reason(scope: CapScope, level: int, unit: str, used: str, cap: str) -> str:
    if unit == "usd":
        shown = f"${float(used) / 1e9:.6f} spent or reserved of ${float(cap) / 1e9:.6f}"
    else:
        shown = f"{float(used):,.0f} tokens spent or reserved of {float(cap):,.0f}"
    cap_name = f"{unit}_per_{scope.period_kind}"
    who = f"{scope.scope} {scope.name!r}"
    if level == 3:
        return f"spend cap: this call would take {who} past its {cap_name} cap ({shown})"
    return f"spend cap: {who} is near its {cap_name} cap ({shown})"


def _assess(scope: CapScope, raw: Sequence[bytes | None]) -> tuple[CapScope, CapLevel, str | None]:
    numbers = [int(item or 0) for item in raw]
    used_usd = (numbers[0] + numbers[1]) / 1e9
    used_tokens = numbers[2] + numbers[3]
    level, reason = assess_caps(
        scope.caps, scope.period_kind, used_usd, used_tokens, CallEstimate(0.0, 0)
    )
    return scope, level, reason


def standing_of(
    providers: list[str], scopes: list[CapScope], raw: list[Sequence[bytes | None]]
) -> SpendStanding:
    """The standing from each provider's four cap scopes (in order) and their counters as read
    (``cost_nanos``, ``reserved_nanos``, ``total_tokens``, ``reserved_tokens``)."""
    levels = [_assess(scope, fields) for scope, fields in zip(scopes, raw, strict=True)]
    capped: dict[str, str] = {}
    near: dict[str, str] = {}
    tenant_near: str | None = None
    for index, (scope, level, reason) in enumerate(levels):
        provider = providers[index // 4]
        if level is CapLevel.OK or reason is None:
            continue
        text = f"spend: {scope.scope} {scope.name!r} {reason}"
        if level is CapLevel.CAPPED:
            capped.setdefault(provider, text)
        else:
            near.setdefault(provider, text)
            if scope.scope == "tenant":
                tenant_near = tenant_near or text
    return SpendStanding(capped=capped, near_cap=near, tenant_near_cap=tenant_near)
