"""Route planning: which targets, in which order, may run a job.

``plan`` is a pure function of the job, the catalog and a snapshot of live state. Candidates
come from the job's tier (escalated first when the tier's rule says so; then its fallback tiers,
in chain order) or from the one model it names; each filter that rules a candidate out says
why, so a job that cannot be routed is refused with every reason at once. The targets left are
ordered tier by tier by the route policy (the job's, else the tier's; ``cheapest`` for a
non-critical job of a tenant near its spend cap).

Live state is a snapshot the caller reads from Redis (``routing.spend.SpendLedger.standing``,
``routing.latency.LatencyBook.snapshot``) and passes in, so planning itself does no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from broker.jobs import (
    Capability,
    CompletionJob,
    CompletionRequest,
    RoutingNeeds,
    TargetRef,
    required_capabilities,
)
from routing.catalog import Catalog, ModelConfig, RoutePolicy
from routing.escalation import escalate
from routing.estimate import (
    estimate_cost_usd,
    estimate_prompt_tokens,
    output_allowance,
    tiktoken_counter,
)
from routing.policies import order_by_policy
from routing.queues import queue_name

__all__ = [
    "Candidate",
    "Considered",
    "Dropped",
    "LiveState",
    "NoRoute",
    "Route",
    "chain_candidates",
    "plan",
]


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


@dataclass(frozen=True, slots=True)
class Dropped:
    model: str
    tier: str
    reason: str


@dataclass(frozen=True, slots=True)
class Considered:
    """One candidate as the planner saw it: its estimates, and whether and where it was kept."""

    model: str
    provider: str
    tier: str
    prompt_tokens: int
    output_tokens: int  # budgeted for all choices
    cost_usd: float  # estimated
    latency_s: float | None
    position: int | None  # its place on the route, None when dropped
    reason: str | None  # why it was dropped


@dataclass(frozen=True, slots=True)
class Route:
    targets: tuple[TargetRef, ...]
    dropped: tuple[Dropped, ...] = ()
    # every candidate in chain order, kept or not, and how the route was decided
    considered: tuple[Considered, ...] = ()
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Candidate:
    """A model and the tier it is reached through (which names its queue)."""

    model: ModelConfig
    tier: str


class NoRoute(Exception):
    """No target can take the job. ``field`` is the part of the job to blame."""

    def __init__(self, message: str, *, field: str, dropped: Iterable[Dropped] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.dropped = tuple(dropped)

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True, slots=True)
class _JobFacts:
    """What the filters look at, worked out once per plan."""

    needs: RoutingNeeds
    request: CompletionRequest
    capabilities: frozenset[Capability]
    prompt_tokens: Mapping[str, int]  # catalog model name -> prompt tokens as it counts them
    state: LiveState

    def prompt_for(self, model: ModelConfig) -> int:
        return self.prompt_tokens[model.name]

    def output_for(self, model: ModelConfig) -> int:
        return output_allowance(self.request, model) * self.request.n

    def cost_for(self, model: ModelConfig) -> float:
        return estimate_cost_usd(model, self.prompt_for(model), self.output_for(model))


def chain_candidates(catalog: Catalog, tier: str) -> list[Candidate]:
    """The tier's models, then its fallback tier's, and so on; a repeated model counts once."""
    seen: set[str] = set()
    candidates: list[Candidate] = []
    for tier_name in catalog.tier_chain(tier):
        for model_name in catalog.tiers[tier_name].models:
            if model_name not in seen:
                seen.add(model_name)
                candidates.append(Candidate(catalog.model(model_name), tier_name))
    return candidates


def _names(names: Iterable[str]) -> str:
    return ", ".join(sorted(names)) or "(none)"


def _candidates(
    job: CompletionJob, catalog: Catalog, prompt_tokens: int
) -> tuple[list[Candidate], tuple[str, ...]]:
    needs = job.needs
    if needs.model is not None:
        if needs.model not in {model.name for model in catalog.models}:
            known = _names(model.name for model in catalog.models)
            raise NoRoute(
                f"unknown model {needs.model!r}; known models: {known}", field="needs.model"
            )
        return [Candidate(catalog.model(needs.model), catalog.tiers_of(needs.model)[0])], ()
    assert needs.tier is not None  # RoutingNeeds guarantees exactly one of tier and model
    if needs.tier not in catalog.tiers:
        raise NoRoute(
            f"unknown tier {needs.tier!r}; known tiers: {_names(catalog.tiers)}", field="needs.tier"
        )
    tier, notes = escalate(catalog, needs.tier, job, prompt_tokens)
    return chain_candidates(catalog, tier), notes


# --- filters: each returns why the model cannot take the job, or None ---------------------


def _not_allowed(facts: _JobFacts, model: ModelConfig) -> str | None:
    allowed = facts.needs.allowed_providers
    if allowed is not None and model.provider not in allowed:
        return f"provider {model.provider!r} is not in allowed_providers ({_names(allowed)})"
    return None


def _blocked(facts: _JobFacts, model: ModelConfig) -> str | None:
    if model.provider in facts.needs.blocked_providers:
        return f"provider {model.provider!r} is in blocked_providers"
    return None


def _missing_capabilities(facts: _JobFacts, model: ModelConfig) -> str | None:
    missing = facts.capabilities - model.capabilities
    if missing:
        return f"lacks capability {_names(missing)}"
    return None


def _output_over_maximum(facts: _JobFacts, model: ModelConfig) -> str | None:
    # A provider refuses a max_tokens above the model's maximum with a 400, which would fail
    # the job outright instead of moving it on: rule the model out here.
    limit, maximum = facts.request.output_token_limit, model.max_output_tokens
    if limit is not None and maximum is not None and limit > maximum:
        return f"asks for up to {limit:,} output tokens; the model's maximum is {maximum:,}"
    return None


def _window_too_small(facts: _JobFacts, model: ModelConfig) -> str | None:
    output = output_allowance(facts.request, model)
    prompt = facts.prompt_for(model)
    needed = prompt + output
    if model.context_window < needed:
        return (
            f"context window {model.context_window:,} tokens < ~{needed:,} needed "
            f"(~{prompt:,} prompt + {output:,} output)"
        )
    return None


def _over_budget(facts: _JobFacts, model: ModelConfig) -> str | None:
    ceiling = facts.needs.max_cost_usd
    if ceiling is None:
        return None
    cost = facts.cost_for(model)
    if cost > ceiling:
        return f"estimated cost ${cost:.6f} > max_cost_usd ${ceiling:.6f}"
    return None


def _under_quality(facts: _JobFacts, model: ModelConfig) -> str | None:
    floor = facts.needs.min_quality
    if floor is None:
        return None
    if model.quality is None:
        return f"has no quality score; min_quality is {floor:g}"
    if model.quality < floor:
        return f"quality {model.quality:g} < min_quality {floor:g}"
    return None


def _spend_capped(facts: _JobFacts, model: ModelConfig) -> str | None:
    return facts.state.capped.get(model.provider)


def _near_cap_non_critical(facts: _JobFacts, model: ModelConfig) -> str | None:
    near = facts.state.near_cap.get(model.provider)
    if near is None or facts.needs.critical:
        return None
    return f"{near}; the job is not critical"


def _circuit_open(facts: _JobFacts, model: ModelConfig) -> str | None:
    if (model.provider, model.name) in facts.state.open_circuits:
        return f"circuit open for {model.provider}/{model.name}"
    return None


_Filter = Callable[[_JobFacts, ModelConfig], str | None]
_FILTERS: tuple[_Filter, ...] = (
    _not_allowed,
    _blocked,
    _missing_capabilities,
    _output_over_maximum,
    _window_too_small,
    _over_budget,
    _under_quality,
    _circuit_open,
    _spend_capped,
    _near_cap_non_critical,
)


def _reasons(facts: _JobFacts, model: ModelConfig) -> list[str]:
    return [reason for check in _FILTERS if (reason := check(facts, model)) is not None]


def _held(
    facts: _JobFacts, candidates: list[Candidate], dropped: dict[int, Dropped]
) -> list[Candidate]:
    """When every candidate is dropped, those dropped only for an open circuit stay (and leave
    ``dropped``): the job is held until a circuit closes (workers/holding.py), not refused."""
    lasting = [check for check in _FILTERS if check is not _circuit_open]
    kept: list[Candidate] = []
    for index, candidate in enumerate(candidates):
        if all(check(facts, candidate.model) is None for check in lasting):
            kept.append(candidate)
            del dropped[index]
    return kept


def _nothing_left(needs: RoutingNeeds, dropped: list[Dropped]) -> NoRoute:
    asked = f"model {needs.model!r}" if needs.model is not None else f"tier {needs.tier!r}"
    lines = [f"no target can take this job ({asked}); every candidate was dropped:"]
    lines += [f"  - {item.model} (tier {item.tier}): {item.reason}" for item in dropped]
    return NoRoute("\n".join(lines), field="needs", dropped=dropped)


def _prompt_tokens(
    request: CompletionRequest, models: Iterable[ModelConfig], estimate: int
) -> dict[str, int]:
    """Each model's prompt count; tiktoken's is worked out once for all the models it counts.
    ``estimate``: the request's character estimate, for the models tiktoken does not count."""
    counted: int | None = None
    tokens: dict[str, int] = {}
    for model in models:
        if tiktoken_counter(model) is None:
            tokens[model.name] = estimate
            continue
        if counted is None:
            counted = estimate_prompt_tokens(request, model)
        tokens[model.name] = counted
    return tokens


def _policy_of(job: CompletionJob, catalog: Catalog, tier: str, state: LiveState) -> RoutePolicy:
    if state.tenant_near_cap is not None and not job.needs.critical:
        return "cheapest"
    return job.needs.policy or catalog.tiers[tier].policy


def _order(
    job: CompletionJob, catalog: Catalog, facts: _JobFacts, kept: list[Candidate]
) -> list[Candidate]:
    """Kept candidates tier by tier in chain order, each tier's ordered by its policy."""
    tiers = list(dict.fromkeys(candidate.tier for candidate in kept))
    ordered: list[Candidate] = []
    for tier in tiers:
        ordered += order_by_policy(
            _policy_of(job, catalog, tier, facts.state),
            [candidate for candidate in kept if candidate.tier == tier],
            cost=lambda candidate: facts.cost_for(candidate.model),
            latency=lambda candidate: facts.state.latencies.get(
                (candidate.model.provider, candidate.model.name)
            ),
        )
    return ordered


def _target(candidate: Candidate) -> TargetRef:
    model = candidate.model
    return TargetRef(
        provider=model.provider,
        model=model.name,
        model_id=model.model_id,
        tier=candidate.tier,
        queue=queue_name(candidate.tier, model.provider),
    )


def _considered(
    facts: _JobFacts, candidate: Candidate, position: int | None, reason: str | None
) -> Considered:
    model = candidate.model
    return Considered(
        model=model.name,
        provider=model.provider,
        tier=candidate.tier,
        prompt_tokens=facts.prompt_for(model),
        output_tokens=facts.output_for(model),
        cost_usd=facts.cost_for(model),
        latency_s=facts.state.latencies.get((model.provider, model.name)),
        position=position,
        reason=reason,
    )


def plan(job: CompletionJob, catalog: Catalog, state: LiveState | None = None) -> Route:
    """The ordered targets that may run the job, and the candidates dropped on the way.

    Raises ``NoRoute`` for an unknown tier or model (``field`` ``needs.tier`` or
    ``needs.model``) and when every candidate is dropped (``field`` ``needs``).
    """
    estimate = estimate_prompt_tokens(job.request)
    candidates, notes = _candidates(job, catalog, estimate)
    facts = _JobFacts(
        needs=job.needs,
        request=job.request,
        capabilities=required_capabilities(job),
        prompt_tokens=_prompt_tokens(job.request, (item.model for item in candidates), estimate),
        state=state or LiveState(),
    )
    kept: list[Candidate] = []
    dropped: dict[int, Dropped] = {}
    for index, candidate in enumerate(candidates):
        reasons = _reasons(facts, candidate.model)
        if reasons:
            dropped[index] = Dropped(candidate.model.name, candidate.tier, "; ".join(reasons))
        else:
            kept.append(candidate)
    if not kept and (kept := _held(facts, candidates, dropped)):
        notes = (*notes, "every candidate's circuit is open: the job waits until one closes")
    if not kept:
        raise _nothing_left(job.needs, list(dropped.values()))
    ordered = _order(job, catalog, facts, kept)
    positions = {id(candidate): place for place, candidate in enumerate(ordered)}
    considered = tuple(
        _considered(
            facts,
            candidate,
            positions.get(id(candidate)),
            dropped[index].reason if index in dropped else None,
        )
        for index, candidate in enumerate(candidates)
    )
    return Route(
        targets=tuple(_target(candidate) for candidate in ordered),
        dropped=tuple(dropped.values()),
        considered=considered,
        notes=notes,
    )
