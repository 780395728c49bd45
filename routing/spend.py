"""Spend caps per provider and per tenant, per UTC day and calendar month, in USD and tokens.

A worker asks before each call (``SpendLedger.reserve``) with the most the call can cost and the
most tokens it can use (``estimate_call``: a ceiling, not a typical figure). One Lua script
reads the four counters that cap the call (provider day and month, tenant day and month),
refuses it if spent + reserved + ceiling would pass a cap, refuses it for a non-critical job if
that would pass ``near_fraction`` of a cap, and otherwise reserves the ceiling on all four at
once. Because the check and the reservation are one atomic step and no call can cost more than
it reserved, concurrent calls, retries and fallbacks can never together spend past a cap.

The reservation lives in a hold, which the step that ends the call deletes: after an answer,
``settle`` swaps it for the provider's reported usage and adds that to every usage counter
(``routing.usage``); after a failed call, ``release`` gives it back; and when a delivery finds
that an earlier delivery's worker died mid-call, ``settle_lost`` counts that call at its
reservation. The lost call's real cost is unknown and the provider may have billed it, so for a
hard cap counting it is the safe side; giving it back would let the cap be passed. A step that
finds the hold gone counts nothing, so no call is counted twice.

``standing`` reads the same counters for the planner's live state: providers at a cap are
dropped from new routes, providers near one are avoided by non-critical jobs.
"""

from __future__ import annotations

from datetime import UTC, datetime

import redis

from broker.jobs import CompletionJob, TargetRef, Usage
from broker.script_batch import ScriptCall, run_script
from routing.catalog import Catalog
from routing.spend_rules import (
    CallEstimate,
    CapLevel,
    CapScope,
    SpendGrant,
    SpendStanding,
    assess_caps,
    cap_args,
    estimate_call,
    read_grant,
    standing_of,
)
from routing.spend_scripts import RELEASE, RESERVE, SETTLE
from routing.usage import (
    BATCH_TTL_S,
    DAY_TTL_S,
    MONTH_TTL_S,
    UsageKeys,
    day_period,
    index_period,
    month_period,
    to_nanos,
)

__all__ = [
    "CallEstimate",
    "CapLevel",
    "SpendGrant",
    "SpendLedger",
    "SpendStanding",
    "assess_caps",
    "estimate_call",
]


class SpendLedger:
    """Caps and usage counters in Redis for one catalog. Thread-safe (redis-py pools)."""

    def __init__(
        self,
        client: redis.Redis,
        keys: UsageKeys,
        catalog: Catalog,
        *,
        hold_ttl_s: int = 6 * 3600,
        day_ttl_s: int = DAY_TTL_S,
        month_ttl_s: int = MONTH_TTL_S,
        batch_ttl_s: int = BATCH_TTL_S,
    ) -> None:
        self.client = client
        self.keys = keys
        self.catalog = catalog
        # A safety net only: every hold is deleted by the step that ends its call.
        self.hold_ttl_s = hold_ttl_s
        self.ttl = {"day": day_ttl_s, "month": month_ttl_s, "all": batch_ttl_s}
        self._reserve = client.register_script(RESERVE)
        self._release = client.register_script(RELEASE)
        self._settle = client.register_script(SETTLE)

    # --- the scopes of one call ----------------------------------------------------------

    def _cap_scopes(self, tenant: str, provider: str, now: datetime) -> list[CapScope]:
        provider_caps = self.catalog.provider(provider).spend_caps
        tenant_caps = self.catalog.tenant_spend_caps(tenant)
        day, month = day_period(now), month_period(now)
        return [
            CapScope("provider", provider, day, self.ttl["day"], provider_caps, "day"),
            CapScope("provider", provider, month, self.ttl["month"], provider_caps, "month"),
            CapScope("tenant", tenant, day, self.ttl["day"], tenant_caps, "day"),
            CapScope("tenant", tenant, month, self.ttl["month"], tenant_caps, "month"),
        ]

    def _usage_scopes(self, job: CompletionJob, provider: str, now: datetime) -> list[CapScope]:
        """Every usage hash a call of ``job`` on ``provider`` at ``now`` counts toward."""
        tenant = job.envelope.tenant
        pair = f"{tenant}/{provider}"
        scopes = self._cap_scopes(tenant, provider, now)
        scopes.append(CapScope("tenant_provider", pair, day_period(now), self.ttl["day"]))
        scopes.append(CapScope("tenant_provider", pair, month_period(now), self.ttl["month"]))
        if job.envelope.batch_id:
            scopes.append(CapScope("batch", job.envelope.batch_id, "all", self.ttl["all"]))
        return scopes

    def _key(self, scope: CapScope) -> str:
        return self.keys.usage(scope.scope, scope.name, scope.period)

    def _index(self, scope: CapScope, now: datetime) -> str:
        return self.keys.usage_index(index_period(scope.period, now))

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
        """Reserve the call's ceiling against the caps, or say why the target must be skipped.

        ``hold_id`` names this one call (e.g. ``f"{job_id}:{hop}:{number}"``); pass it to
        ``settle``, ``release`` or ``settle_lost`` afterwards.
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
            args += [*cap_args(scope), scope.ttl_s, scope.scope, scope.name, scope.period]
        keys = [self._key(scope) for scope in scopes]
        keys.append(self.keys.spend_hold(hold_id))
        keys += [self._index(scope, moment) for scope in scopes]
        critical = job.needs.critical
        return ScriptCall(
            self._reserve,
            keys,
            args,
            parse=lambda reply: read_grant(
                scopes, hold_id, reply, ceiling=cost, critical=critical, now=moment
            ),
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
        round trip. False if the hold was gone (already settled, or counted as lost): nothing
        is counted then."""
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
        total = usage.total_tokens or usage.prompt_tokens + usage.completion_tokens
        amounts = [to_nanos(cost_usd), usage.prompt_tokens, usage.completion_tokens, total]
        return self._settle_call("call", job, target, hold_id, amounts, now)

    def settle_lost_call(
        self, job: CompletionJob, target: TargetRef, *, hold_id: str, now: datetime
    ) -> ScriptCall[bool]:
        """Count a call whose worker died mid-call at what it reserved, on every usage counter
        (``lost_calls`` instead of ``jobs``), and end its hold. ``now``: when the call was
        reserved, so that it counts toward the same day and month. False if the hold was gone."""
        return self._settle_call("lost", job, target, hold_id, [0, 0, 0, 0], now)

    def _settle_call(
        self,
        mode: str,
        job: CompletionJob,
        target: TargetRef,
        hold_id: str,
        amounts: list[int],
        now: datetime | None,
    ) -> ScriptCall[bool]:
        moment = now or datetime.now(UTC)
        scopes = self._usage_scopes(job, target.provider, moment)
        args: list[str | int | float] = [mode, *amounts]
        keys = [self.keys.spend_hold(hold_id)]
        for scope in scopes:
            args += [scope.ttl_s, scope.scope, scope.name, scope.period]
            keys += [self._key(scope), self._index(scope, moment)]
        return ScriptCall(self._settle, keys, args, parse=bool)

    def release(self, hold_id: str) -> bool:
        """Give back what a call reserved when it made no charge (it failed, or was not made)."""
        return run_script(self.client, self.release_call(hold_id))

    def release_call(self, hold_id: str) -> ScriptCall[bool]:
        """``release`` as a call to run with others (``broker.script_batch``)."""
        return ScriptCall(self._release, [self.keys.spend_hold(hold_id)], [], parse=bool)

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
            pipe.hmget(
                self._key(scope), "cost_nanos", "reserved_nanos", "total_tokens", "reserved_tokens"
            )
        return standing_of(providers, scopes, pipe.execute())
