"""Route planning: which targets, in which order, may run a job.

``plan`` is a pure function of the job, the catalog and a snapshot of live state. Candidates
come from the job's tier (then its fallback tiers, in chain order) or from the one model it
names; each filter that rules a candidate out says why, so a job that cannot be routed is
refused with every reason at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from broker.jobs import (
    Capability,
    CompletionJob,
    CompletionRequest,
    RoutingNeeds,
    TargetRef,
    required_capabilities,
)
from routing.catalog import Catalog, ModelConfig
from routing.estimate import estimate_cost_usd, estimate_prompt_tokens, output_allowance
from routing.queues import queue_name

__all__ = [
    "Candidate",
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


@dataclass(frozen=True, slots=True)
class Dropped:
    model: str
    tier: str
    reason: str


@dataclass(frozen=True, slots=True)
class Route:
    targets: tuple[TargetRef, ...]
    dropped: tuple[Dropped, ...] = ()


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
    prompt_tokens: int
    state: LiveState


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


def _candidates(needs: RoutingNeeds, catalog: Catalog) -> list[Candidate]:
    if needs.model is not None:
        if needs.model not in {model.name for model in catalog.models}:
            known = _names(model.name for model in catalog.models)
            raise NoRoute(
                f"unknown model {needs.model!r}; known models: {known}", field="needs.model"
            )
        return [Candidate(catalog.model(needs.model), catalog.tiers_of(needs.model)[0])]
    assert needs.tier is not None  # RoutingNeeds guarantees exactly one of tier and model
    if needs.tier not in catalog.tiers:
        raise NoRoute(
            f"unknown tier {needs.tier!r}; known tiers: {_names(catalog.tiers)}", field="needs.tier"
        )
    return chain_candidates(catalog, needs.tier)


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
    needed = facts.prompt_tokens + output
    if model.context_window < needed:
        return (
            f"context window {model.context_window:,} tokens < ~{needed:,} needed "
            f"(~{facts.prompt_tokens:,} prompt + {output:,} output)"
        )
    return None


def _over_budget(facts: _JobFacts, model: ModelConfig) -> str | None:
    ceiling = facts.needs.max_cost_usd
    if ceiling is None:
        return None
    output = output_allowance(facts.request, model) * facts.request.n
    cost = estimate_cost_usd(model, facts.prompt_tokens, output)
    if cost > ceiling:
        return f"estimated cost ${cost:.6f} > max_cost_usd ${ceiling:.6f}"
    return None


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
    _circuit_open,
)


def _reasons(facts: _JobFacts, model: ModelConfig) -> list[str]:
    return [reason for check in _FILTERS if (reason := check(facts, model)) is not None]


def _nothing_left(needs: RoutingNeeds, dropped: list[Dropped]) -> NoRoute:
    asked = f"model {needs.model!r}" if needs.model is not None else f"tier {needs.tier!r}"
    lines = [f"no target can take this job ({asked}); every candidate was dropped:"]
    lines += [f"  - {item.model} (tier {item.tier}): {item.reason}" for item in dropped]
    return NoRoute("\n".join(lines), field="needs", dropped=dropped)


def plan(job: CompletionJob, catalog: Catalog, state: LiveState | None = None) -> Route:
    """The ordered targets that may run the job, and the candidates dropped on the way.

    Raises ``NoRoute`` for an unknown tier or model (``field`` ``needs.tier`` or
    ``needs.model``) and when every candidate is dropped (``field`` ``needs``).
    """
    facts = _JobFacts(
        needs=job.needs,
        request=job.request,
        capabilities=required_capabilities(job),
        prompt_tokens=estimate_prompt_tokens(job.request),
        state=state or LiveState(),
    )
    targets: list[TargetRef] = []
    dropped: list[Dropped] = []
    for candidate in _candidates(job.needs, catalog):
        model = candidate.model
        reasons = _reasons(facts, model)
        if reasons:
            dropped.append(Dropped(model.name, candidate.tier, "; ".join(reasons)))
            continue
        targets.append(
            TargetRef(
                provider=model.provider,
                model=model.name,
                model_id=model.model_id,
                tier=candidate.tier,
                queue=queue_name(candidate.tier, model.provider),
            )
        )
    if not targets:
        raise _nothing_left(job.needs, dropped)
    return Route(targets=tuple(targets), dropped=tuple(dropped))
