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

from collections.abc import Iterable
from dataclasses import dataclass

from broker.jobs import (
    CompletionJob,
    CompletionRequest,
    RoutingNeeds,
    TargetRef,
    required_capabilities,
)
from routing.catalog import Catalog, ModelConfig, RoutePolicy
from routing.escalation import escalate
from routing.estimate import (
    estimate_prompt_tokens,
    priced_at,
    tiktoken_counter,
)
from routing.policies import order_by_policy
from routing.queues import queue_name
from routing.target_filters import JobFacts, LiveState, names, reasons

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


def _candidates(
    job: CompletionJob, catalog: Catalog, prompt_tokens: int
) -> tuple[list[Candidate], tuple[str, ...]]:
    own, notes = _own_candidates(job, catalog, prompt_tokens)
    seen = {candidate.model.name for candidate in own}
    known = {model.name for model in catalog.models}
    unknown = [name for name in job.needs.fallback_models if name not in known]
    if unknown:
        raise NoRoute(
            f"unknown fallback model {names(unknown)}; known models: {names(known)}",
            field="needs.fallback_models",
        )
    for name in job.needs.fallback_models:
        if name not in seen:
            seen.add(name)
            own.append(Candidate(catalog.model(name), catalog.tiers_of(name)[0]))
    return own, notes


def _own_candidates(
    job: CompletionJob, catalog: Catalog, prompt_tokens: int
) -> tuple[list[Candidate], tuple[str, ...]]:
    needs = job.needs
    if needs.model is not None:
        if needs.model not in {model.name for model in catalog.models}:
            known = names(model.name for model in catalog.models)
            raise NoRoute(
                f"unknown model {needs.model!r}; known models: {known}", field="needs.model"
            )
        return [Candidate(catalog.model(needs.model), catalog.tiers_of(needs.model)[0])], ()
    assert needs.tier is not None  # RoutingNeeds guarantees exactly one of tier and model
    if needs.tier not in catalog.tiers:
        raise NoRoute(
            f"unknown tier {needs.tier!r}; known tiers: {names(catalog.tiers)}", field="needs.tier"
        )
    tier, notes = escalate(catalog, needs.tier, job, prompt_tokens)
    return chain_candidates(catalog, tier), notes


def _held(
    facts: JobFacts, candidates: list[Candidate], dropped: dict[int, Dropped]
) -> list[Candidate]:
    """When every candidate is dropped, those dropped only for a reason that passes by itself
    (an open circuit, a spend cap reached for now) stay (and leave ``dropped``): the job is
    held until one can take it (workers/holding.py), not refused."""
    kept: list[Candidate] = []
    for index, candidate in enumerate(candidates):
        if not reasons(facts, candidate.model, but_passing=True):
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
    job: CompletionJob, catalog: Catalog, facts: JobFacts, kept: list[Candidate]
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


def _providers_first(order: tuple[str, ...], ordered: list[Candidate]) -> list[Candidate]:
    """The targets of ``order``'s providers first, in its order; the rest as they were."""
    if not order:
        return ordered
    rank = {provider: place for place, provider in enumerate(order)}
    # a stable sort keeps the planned order among a provider's targets and among the rest
    return sorted(ordered, key=lambda candidate: rank.get(candidate.model.provider, len(order)))


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
    facts: JobFacts, candidate: Candidate, position: int | None, reason: str | None
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
    if state is not None and state.at is not None:
        at = state.at
        candidates = [Candidate(priced_at(item.model, at), item.tier) for item in candidates]
    facts = JobFacts(
        needs=job.needs,
        request=job.request,
        capabilities=required_capabilities(job),
        prompt_tokens=_prompt_tokens(job.request, (item.model for item in candidates), estimate),
        state=state or LiveState(),
        wire_formats={name: provider.wire_format for name, provider in catalog.providers.items()},
        provider_caps={name: provider.spend_caps for name, provider in catalog.providers.items()},
        tenant_caps=catalog.tenant_spend_caps(job.envelope.tenant),
    )
    kept: list[Candidate] = []
    dropped: dict[int, Dropped] = {}
    for index, candidate in enumerate(candidates):
        found = reasons(facts, candidate.model)
        if found:
            dropped[index] = Dropped(candidate.model.name, candidate.tier, "; ".join(found))
        else:
            kept.append(candidate)
    if not kept and (kept := _held(facts, candidates, dropped)):
        notes = (
            *notes,
            "every candidate's circuit is open or its spend cap is reached for now:"
            " the job is held until one can take it",
        )
    if not kept:
        raise _nothing_left(job.needs, list(dropped.values()))
    ordered = _providers_first(job.needs.provider_order, _order(job, catalog, facts, kept))
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
