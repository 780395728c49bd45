"""Spend caps per provider and per tenant, per UTC day and calendar month, in USD and tokens.

A worker asks before each call (``SpendLedger.reserve``) with the call's estimated cost and
tokens. One Lua script reads the four counters that cap the call (provider day and month,
tenant day and month), refuses it if spent + reserved + estimate would pass a cap, refuses it
for a non-critical job if that would pass ``near_fraction`` of a cap, and otherwise reserves
the estimate on all four at once. Because the check and the reservation are one atomic step,
concurrent calls, retries and fallbacks can never together spend past a cap (as long as a
call costs no more than its estimate: the estimate budgets the request's output limit, or the
default allowance when it sets none).

After a successful call, ``settle`` swaps the reservation for the provider's reported usage
and adds it to every usage counter (``routing.usage``) in one round trip; after a failed call,
``release`` gives the reservation back. A reservation whose worker died is kept until its hold
expires (``hold_ttl_s``): the cap errs on the safe side meanwhile.

``standing`` reads the same counters for the planner's live state: providers at a cap are
dropped from new routes, providers near one are avoided by non-critical jobs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import IntEnum
from typing import Any

import redis

from broker.jobs import CompletionJob, TargetRef, Usage
from broker.script_batch import ScriptCall, run_script
from routing.catalog import Catalog, ModelConfig, SpendCaps
from routing.estimate import estimate_cost_usd, estimate_prompt_tokens, output_allowance
from routing.usage import UsageKeys, day_period, month_period, to_nanos

__all__ = [
    "CallEstimate",
    "CapLevel",
    "SpendGrant",
    "SpendLedger",
    "SpendStanding",
    "assess_caps",
    "estimate_call",
]

_DAY_S = 86_400


class CapLevel(IntEnum):
    OK = 0
    NEAR = 1
    CAPPED = 2


@dataclass(frozen=True, slots=True)
class CallEstimate:
    usd: float
    tokens: int


def estimate_call(job: CompletionJob, model: ModelConfig) -> CallEstimate:
    """What one call of the job on the model is expected to cost at most: the prompt counted as
    the planner counts it, plus the output allowance for every choice."""
    prompt = estimate_prompt_tokens(job.request, model)
    output = output_allowance(job.request, model) * job.request.n
    return CallEstimate(estimate_cost_usd(model, prompt, output), prompt + output)


def _limits(caps: SpendCaps, period: str) -> tuple[float | None, int | None]:
    if period == "day":
        return caps.usd_per_day, caps.tokens_per_day
    return caps.usd_per_month, caps.tokens_per_month


def assess_caps(
    caps: SpendCaps | None, period: str, used_usd: float, used_tokens: int, extra: CallEstimate
) -> tuple[CapLevel, str | None]:
    """How close ``used`` + ``extra`` comes to the caps of one period (``day`` or ``month``).

    Pure: the same rule the reserve script applies, for the planner's snapshot and for tests.
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


@dataclass(frozen=True, slots=True)
class SpendGrant:
    """The answer to ``reserve``: call, or skip this target (``reason`` says which cap)."""

    allowed: bool
    hold_id: str
    reason: str | None = None
    near: bool = False


@dataclass(frozen=True, slots=True)
class SpendStanding:
    """One tenant's view of the caps, to put into ``routing.planner.LiveState``."""

    capped: dict[str, str] = field(default_factory=dict)
    near_cap: dict[str, str] = field(default_factory=dict)
    tenant_near_cap: str | None = None


# KEYS: provider-day, provider-month, tenant-day, tenant-month, hold, usage index.
# ARGV: est nanos, est tokens, critical, hold ttl, then per cap key: usd cap nanos (-1: none),
# token cap (-1: none), near fraction, key ttl, scope, name, period.
# Returns {level, key index, unit, used, cap}; level 0 ok, 1 near (reserved), 2 near and not
# critical (not reserved), 3 capped (not reserved).
_RESERVE = """
local est_usd, est_tok = tonumber(ARGV[1]), tonumber(ARGV[2])
local worst = {0, 0, '', '0', '0'}
for i = 1, 4 do
  local b = 5 + (i - 1) * 7
  local caps = {{'usd', tonumber(ARGV[b]), 'cost_nanos', 'reserved_nanos', est_usd},
                {'tokens', tonumber(ARGV[b + 1]), 'total_tokens', 'reserved_tokens', est_tok}}
  local near = tonumber(ARGV[b + 2])
  for _, c in ipairs(caps) do
    if c[2] >= 0 then
      local h = redis.call('HMGET', KEYS[i], c[3], c[4])
      local used = (tonumber(h[1]) or 0) + (tonumber(h[2]) or 0)
      if used + c[5] > c[2] then
        return {3, i, c[1], tostring(used), tostring(c[2])}
      end
      if used + c[5] >= near * c[2] and worst[1] == 0 then
        worst = {1, i, c[1], tostring(used), tostring(c[2])}
      end
    end
  end
end
if worst[1] == 1 and ARGV[3] ~= '1' then
  worst[1] = 2
  return worst
end
for i = 1, 4 do
  local b = 5 + (i - 1) * 7
  redis.call('HINCRBY', KEYS[i], 'reserved_nanos', ARGV[1])
  redis.call('HINCRBY', KEYS[i], 'reserved_tokens', ARGV[2])
  redis.call('HSET', KEYS[i], 'scope', ARGV[b + 4], 'name', ARGV[b + 5], 'period', ARGV[b + 6])
  redis.call('EXPIRE', KEYS[i], ARGV[b + 3])
  redis.call('SADD', KEYS[6], KEYS[i])
end
redis.call('SET', KEYS[5], cjson.encode({usd = ARGV[1], tok = ARGV[2],
  keys = {KEYS[1], KEYS[2], KEYS[3], KEYS[4]}}), 'EX', ARGV[4])
return worst
"""

# Give a hold's reservation back. KEYS: hold. Returns 1 if a reservation was released.
_RELEASE = """
local hold = redis.call('GET', KEYS[1])
if not hold or hold == 'settled' then
  return 0
end
local h = cjson.decode(hold)
for _, key in ipairs(h.keys) do
  redis.call('HINCRBY', key, 'reserved_nanos', string.format('%d', -h.usd))
  redis.call('HINCRBY', key, 'reserved_tokens', string.format('%d', -h.tok))
end
redis.call('DEL', KEYS[1])
return 1
"""

# KEYS: hold, usage index, then the usage keys. ARGV: hold ttl, cost nanos, prompt, completion,
# total tokens, then per usage key: ttl, scope, name, period.
# A hold already settled means a second settle of the same call: nothing is counted twice.
# The hold's amounts come back from cjson as Lua numbers: they are formatted with %d, since
# Redis refuses "-0" and exponent notation as integers.
_SETTLE = """
local hold = redis.call('GET', KEYS[1])
if hold == 'settled' then
  return 0
end
if hold then
  local h = cjson.decode(hold)
  for _, key in ipairs(h.keys) do
    redis.call('HINCRBY', key, 'reserved_nanos', string.format('%d', -h.usd))
    redis.call('HINCRBY', key, 'reserved_tokens', string.format('%d', -h.tok))
  end
end
redis.call('SET', KEYS[1], 'settled', 'EX', ARGV[1])
for i = 3, #KEYS do
  local b = 6 + (i - 3) * 4
  redis.call('HINCRBY', KEYS[i], 'cost_nanos', ARGV[2])
  redis.call('HINCRBY', KEYS[i], 'prompt_tokens', ARGV[3])
  redis.call('HINCRBY', KEYS[i], 'completion_tokens', ARGV[4])
  redis.call('HINCRBY', KEYS[i], 'total_tokens', ARGV[5])
  redis.call('HINCRBY', KEYS[i], 'jobs', 1)
  redis.call('HSET', KEYS[i], 'scope', ARGV[b + 1], 'name', ARGV[b + 2], 'period', ARGV[b + 3])
  redis.call('EXPIRE', KEYS[i], ARGV[b])
  redis.call('SADD', KEYS[2], KEYS[i])
end
return 1
"""


@dataclass(frozen=True, slots=True)
class _Scope:
    scope: str
    name: str
    period: str
    ttl_s: int
    caps: SpendCaps | None = None
    period_kind: str = "day"


class SpendLedger:
    """Caps and usage counters in Redis for one catalog. Thread-safe (redis-py pools)."""

    def __init__(
        self,
        client: redis.Redis,
        keys: UsageKeys,
        catalog: Catalog,
        *,
        hold_ttl_s: int = 6 * 3600,
        day_ttl_s: int = 40 * _DAY_S,
        month_ttl_s: int = 400 * _DAY_S,
        batch_ttl_s: int = 7 * _DAY_S,
    ) -> None:
        self.client = client
        self.keys = keys
        self.catalog = catalog
        self.hold_ttl_s = hold_ttl_s
        self.ttl = {"day": day_ttl_s, "month": month_ttl_s, "all": batch_ttl_s}
        self._reserve = client.register_script(_RESERVE)
        self._release = client.register_script(_RELEASE)
        self._settle = client.register_script(_SETTLE)

    # --- the scopes of one call ----------------------------------------------------------

    def _cap_scopes(self, tenant: str, provider: str, now: datetime) -> list[_Scope]:
        provider_caps = self.catalog.provider(provider).spend_caps
        tenant_caps = self.catalog.tenant_spend_caps(tenant)
        day, month = day_period(now), month_period(now)
        return [
            _Scope("provider", provider, day, self.ttl["day"], provider_caps, "day"),
            _Scope("provider", provider, month, self.ttl["month"], provider_caps, "month"),
            _Scope("tenant", tenant, day, self.ttl["day"], tenant_caps, "day"),
            _Scope("tenant", tenant, month, self.ttl["month"], tenant_caps, "month"),
        ]

    def _key(self, scope: _Scope) -> str:
        return self.keys.usage(scope.scope, scope.name, scope.period)

    # --- before a call -------------------------------------------------------------------

    def reserve(
        self,
        job: CompletionJob,
        target: TargetRef,
        *,
        hold_id: str,
        estimate: CallEstimate | None = None,
        now: datetime | None = None,
    ) -> SpendGrant:
        """Reserve the call's estimate against the caps, or say why the target must be skipped.

        ``hold_id`` names this one call (e.g. ``f"{job_id}:{hop}:{number}"``); pass it to
        ``settle`` or ``release`` afterwards.
        """
        call = self.reserve_call(job, target, hold_id=hold_id, estimate=estimate, now=now)
        return run_script(self.client, call)

    def reserve_call(
        self,
        job: CompletionJob,
        target: TargetRef,
        *,
        hold_id: str,
        estimate: CallEstimate | None = None,
        now: datetime | None = None,
    ) -> ScriptCall[SpendGrant]:
        """``reserve`` as a call to run with others (``broker.script_batch``)."""
        moment = now or datetime.now(UTC)
        cost = estimate or estimate_call(job, self.catalog.model(target.model))
        scopes = self._cap_scopes(job.envelope.tenant, target.provider, moment)
        args: list[str | int | float] = [
            to_nanos(cost.usd),
            cost.tokens,
            "1" if job.needs.critical else "0",
            self.hold_ttl_s,
        ]
        for scope in scopes:
            args += [*_cap_args(scope), scope.ttl_s, scope.scope, scope.name, scope.period]
        keys = [self._key(scope) for scope in scopes]
        keys += [self.keys.spend_hold(hold_id), self.keys.usage_index()]
        return ScriptCall(
            self._reserve, keys, args, parse=lambda reply: _grant(scopes, hold_id, reply)
        )

    # --- after a call --------------------------------------------------------------------

    def settle(
        self,
        job: CompletionJob,
        target: TargetRef,
        usage: Usage,
        cost_usd: float,
        *,
        hold_id: str,
        now: datetime | None = None,
    ) -> bool:
        """Swap the call's reservation for its actual usage and count it everywhere, in one
        round trip. False if this call was already settled (a repeated settle counts nothing)."""
        call = self.settle_call(job, target, usage, cost_usd, hold_id=hold_id, now=now)
        return run_script(self.client, call)

    def settle_call(
        self,
        job: CompletionJob,
        target: TargetRef,
        usage: Usage,
        cost_usd: float,
        *,
        hold_id: str,
        now: datetime | None = None,
    ) -> ScriptCall[bool]:
        """``settle`` as a call to run with others (``broker.script_batch``)."""
        moment = now or datetime.now(UTC)
        tenant, provider = job.envelope.tenant, target.provider
        scopes = self._cap_scopes(tenant, provider, moment)
        scopes.append(
            _Scope("tenant_provider", f"{tenant}/{provider}", day_period(moment), self.ttl["day"])
        )
        scopes.append(
            _Scope(
                "tenant_provider", f"{tenant}/{provider}", month_period(moment), self.ttl["month"]
            )
        )
        if job.envelope.batch_id:
            scopes.append(_Scope("batch", job.envelope.batch_id, "all", self.ttl["all"]))
        args: list[str | int | float] = [
            self.hold_ttl_s,
            to_nanos(cost_usd),
            usage.prompt_tokens,
            usage.completion_tokens,
            usage.total_tokens or usage.prompt_tokens + usage.completion_tokens,
        ]
        for scope in scopes:
            args += [scope.ttl_s, scope.scope, scope.name, scope.period]
        keys = [self.keys.spend_hold(hold_id), self.keys.usage_index()]
        keys += [self._key(scope) for scope in scopes]
        return ScriptCall(self._settle, keys, args, parse=bool)

    def release(self, hold_id: str) -> bool:
        """Give back what a call reserved when it made no charge (it failed, or was not made)."""
        return bool(self._release(keys=[self.keys.spend_hold(hold_id)]))

    # --- for the planner -----------------------------------------------------------------

    def standing(self, tenant: str, *, now: datetime | None = None) -> SpendStanding:
        """Which providers are at or near a cap for ``tenant`` now, read in one round trip."""
        moment = now or datetime.now(UTC)
        providers = list(self.catalog.providers)
        scopes = [
            scope for provider in providers for scope in self._cap_scopes(tenant, provider, moment)
        ]
        pipe = self.client.pipeline(transaction=False)
        for scope in scopes:
            pipe.hmget(self._key(scope), "cost_nanos", "reserved_nanos", "total_tokens",
                       "reserved_tokens")
        levels = [_assess(scope, raw) for scope, raw in zip(scopes, pipe.execute(), strict=True)]
        return _standing(providers, levels)


def _grant(scopes: list[_Scope], hold_id: str, reply: Sequence[Any]) -> SpendGrant:
    level, index, unit, used, cap = reply
    if int(level) == 0:
        return SpendGrant(allowed=True, hold_id=hold_id)
    reason = _reason(scopes[int(index) - 1], int(level), _text(unit), _text(used), _text(cap))
    return SpendGrant(allowed=int(level) == 1, hold_id=hold_id, reason=reason, near=True)


def _cap_args(scope: _Scope) -> list[str | int | float]:
    if scope.caps is None:
        return [-1, -1, 1]
    usd, tokens = _limits(scope.caps, scope.period_kind)
    return [
        -1 if usd is None else to_nanos(usd),
        -1 if tokens is None else tokens,
        scope.caps.near_fraction,
    ]


def _text(value: bytes | str | int) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _reason(scope: _Scope, level: int, unit: str, used: str, cap: str) -> str:
    if unit == "usd":
        shown = f"${float(used) / 1e9:.6f} spent or reserved of ${float(cap) / 1e9:.6f}"
    else:
        shown = f"{float(used):,.0f} tokens spent or reserved of {float(cap):,.0f}"
    cap_name = f"{unit}_per_{scope.period_kind}"
    who = f"{scope.scope} {scope.name!r}"
    if level == 3:
        return f"spend cap: this call would take {who} past its {cap_name} cap ({shown})"
    return f"spend cap: {who} is near its {cap_name} cap ({shown})"


def _assess(scope: _Scope, raw: Sequence[bytes | None]) -> tuple[_Scope, CapLevel, str | None]:
    numbers = [int(item or 0) for item in raw]
    used_usd = (numbers[0] + numbers[1]) / 1e9
    used_tokens = numbers[2] + numbers[3]
    level, reason = assess_caps(
        scope.caps, scope.period_kind, used_usd, used_tokens, CallEstimate(0.0, 0)
    )
    return scope, level, reason


def _standing(
    providers: list[str], levels: list[tuple[_Scope, CapLevel, str | None]]
) -> SpendStanding:
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
