"""Which targets a job rules out, and why: the planner's filters, one reason each.

Each filter looks at what the planner worked out once for the job (``JobFacts``) and one
candidate model, and returns why the model cannot take the job, or None. ``reasons`` runs them
all, so a job that cannot be routed is refused with every reason at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from adapters.parameters import uncarried
from broker.jobs import Capability, CompletionRequest, RoutingNeeds
from routing.catalog import ModelConfig, SpendCaps
from routing.estimate import estimate_cost_usd, output_allowance
from routing.spend_rules import call_ceiling, lasting_cap

__all__ = ["JobFacts", "LiveState", "names", "reasons"]


@dataclass(frozen=True, slots=True)
class LiveState:
    """What the planner must know of the world right now."""

    # (provider, catalog model name) pairs whose circuit is open: skip them
    open_circuits: frozenset[tuple[str, str]] = frozenset()
    # (provider, catalog model name) -> recent call latency in seconds, for the fastest policy
    latencies: Mapping[tuple[str, str], float] = field(default_factory=dict)
    # provider -> why it is at a spend cap for this job's tenant (its own or the tenant's): skip
    capped: Mapping[str, str] = field(default_factory=dict)
    # provider -> why it is near a cap: non-critical jobs go elsewhere
    near_cap: Mapping[str, str] = field(default_factory=dict)
    # why the tenant is near one of its own caps: non-critical jobs go cheapest first
    tenant_near_cap: str | None = None
    # when it was read: models are priced as their price windows say then (None: catalog
    # prices), for estimates, budgets, price ceilings and the cheapest policy
    at: datetime | None = None


@dataclass(frozen=True, slots=True)
class JobFacts:
    """What the filters look at, worked out once per plan."""

    needs: RoutingNeeds
    request: CompletionRequest
    capabilities: frozenset[Capability]
    prompt_tokens: Mapping[str, int]  # catalog model name -> prompt tokens as it counts them
    state: LiveState
    wire_formats: Mapping[str, str]  # provider -> the wire format its adapter speaks
    # provider -> its spend caps, and the tenant's own: for a cap no window can pass
    provider_caps: Mapping[str, SpendCaps | None] = field(default_factory=dict)
    tenant_caps: SpendCaps | None = None

    def prompt_for(self, model: ModelConfig) -> int:
        return self.prompt_tokens[model.name]

    def output_for(self, model: ModelConfig) -> int:
        return output_allowance(self.request, model) * self.request.n

    def cost_for(self, model: ModelConfig) -> float:
        return estimate_cost_usd(model, self.prompt_for(model), self.output_for(model))


def names(items: Iterable[str]) -> str:
    """``items`` sorted and comma-separated, for a reason or an error message."""
    return ", ".join(sorted(items)) or "(none)"


# --- filters: each returns why the model cannot take the job, or None ---------------------


def _not_allowed(facts: JobFacts, model: ModelConfig) -> str | None:
    allowed = facts.needs.allowed_providers
    if allowed is not None and model.provider not in allowed:
        return f"provider {model.provider!r} is not in allowed_providers ({names(allowed)})"
    return None


def _blocked(facts: JobFacts, model: ModelConfig) -> str | None:
    if model.provider in facts.needs.blocked_providers:
        return f"provider {model.provider!r} is in blocked_providers"
    return None


def _missing_capabilities(facts: JobFacts, model: ModelConfig) -> str | None:
    missing = facts.capabilities - model.capabilities
    if missing:
        return f"lacks capability {names(missing)}"
    return None


def _cannot_carry(facts: JobFacts, model: ModelConfig) -> str | None:
    # A format that cannot carry a parameter would refuse the job as an InvalidRequest, which
    # fails it outright: the target is left off instead (adapters/parameters.py).
    reasons = uncarried(facts.request, facts.wire_formats.get(model.provider, ""))
    return "; ".join(reasons) or None


def _output_over_maximum(facts: JobFacts, model: ModelConfig) -> str | None:
    # A provider refuses a max_tokens above the model's maximum with a 400, which would fail
    # the job outright instead of moving it on: rule the model out here.
    limit, maximum = facts.request.output_token_limit, model.max_output_tokens
    if limit is not None and maximum is not None and limit > maximum:
        return f"asks for up to {limit:,} output tokens; the model's maximum is {maximum:,}"
    return None


def _window_too_small(facts: JobFacts, model: ModelConfig) -> str | None:
    output = output_allowance(facts.request, model)
    prompt = facts.prompt_for(model)
    needed = prompt + output
    if model.context_window < needed:
        return (
            f"context window {model.context_window:,} tokens < ~{needed:,} needed "
            f"(~{prompt:,} prompt + {output:,} output)"
        )
    return None


def _over_budget(facts: JobFacts, model: ModelConfig) -> str | None:
    ceiling = facts.needs.max_cost_usd
    if ceiling is None:
        return None
    cost = facts.cost_for(model)
    if cost > ceiling:
        return f"estimated cost ${cost:.6f} > max_cost_usd ${ceiling:.6f}"
    return None


def _under_quality(facts: JobFacts, model: ModelConfig) -> str | None:
    floor = facts.needs.min_quality
    if floor is None:
        return None
    if model.quality is None:
        return f"has no quality score; min_quality is {floor:g}"
    if model.quality < floor:
        return f"quality {model.quality:g} < min_quality {floor:g}"
    return None


def _over_max_price(facts: JobFacts, model: ModelConfig) -> str | None:
    ceiling = facts.needs.max_price
    if ceiling is None:
        return None
    over = [
        f"{side} price ${price:g}/M > max_price.{side} ${limit:g}/M"
        for side, price, limit in (
            ("input", model.price.input, ceiling.input),
            ("output", model.price.output, ceiling.output),
        )
        if limit is not None and price > limit
    ]
    return "; ".join(over) or None


def _spend_capped(facts: JobFacts, model: ModelConfig) -> str | None:
    return facts.state.capped.get(model.provider)


def _cap_never_allows(facts: JobFacts, model: ModelConfig) -> str | None:
    # Lasting, unlike a cap reached for now: the call's reservation alone is more than a cap
    # allows in a whole day or month, so no wait helps (the worker would refuse it forever).
    provider_caps = facts.provider_caps.get(model.provider)
    if provider_caps is None and facts.tenant_caps is None:
        return None
    ceiling = call_ceiling(facts.request, model)
    critical = facts.needs.critical
    for who, caps in (("provider", provider_caps), ("tenant", facts.tenant_caps)):
        for period in ("day", "month"):
            why = lasting_cap(caps, period, ceiling, critical=critical)
            if why is not None:
                return f"spend: {who} cap can never allow this call: {why}"
    return None


def _near_cap_non_critical(facts: JobFacts, model: ModelConfig) -> str | None:
    near = facts.state.near_cap.get(model.provider)
    if near is None or facts.needs.critical:
        return None
    return f"{near}; the job is not critical"


def _circuit_open(facts: JobFacts, model: ModelConfig) -> str | None:
    if (model.provider, model.name) in facts.state.open_circuits:
        return f"circuit open for {model.provider}/{model.name}"
    return None


_Filter = Callable[[JobFacts, ModelConfig], str | None]
_FILTERS: tuple[_Filter, ...] = (
    _not_allowed,
    _blocked,
    _missing_capabilities,
    _cannot_carry,
    _output_over_maximum,
    _window_too_small,
    _over_budget,
    _over_max_price,
    _under_quality,
    _cap_never_allows,
    _circuit_open,
    _spend_capped,
    _near_cap_non_critical,
)
# Reasons that pass by themselves: an open circuit closes, a cap reached for now frees (calls
# in flight settle for less than they reserved, its day or month ends).
_PASSING: frozenset[_Filter] = frozenset({_circuit_open, _spend_capped, _near_cap_non_critical})


def reasons(facts: JobFacts, model: ModelConfig, *, but_passing: bool = False) -> list[str]:
    """Why ``model`` cannot take the job, each filter's reason; with ``but_passing``, leaving
    out the reasons that pass by themselves (an open circuit, a spend cap reached for now): a
    job held for one waits instead of being refused."""
    checks = [c for c in _FILTERS if not (but_passing and c in _PASSING)]
    return [reason for check in checks if (reason := check(facts, model)) is not None]
