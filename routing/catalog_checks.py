"""The catalog's consistency checks across its parts: each returns its problems, every one led
by the path of the field to fix, so ``Catalog`` can report them all at once. Pure."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from routing.catalog import ModelConfig, ProviderConfig, TierConfig

__all__ = [
    "cycle_problems",
    "escalation_problems",
    "known",
    "model_problems",
    "tier_problems",
    "untiered_problems",
]


def known(names: Iterable[str]) -> str:
    listed = sorted(names)
    return ", ".join(listed) if listed else "(none)"


def model_problems(
    models: Sequence[ModelConfig], providers: Mapping[str, ProviderConfig]
) -> list[str]:
    """Models of an unknown provider, and names given twice."""
    problems: list[str] = []
    first_index: dict[str, int] = {}
    for index, model in enumerate(models):
        if model.provider not in providers:
            problems.append(
                f"models[{index}].provider: unknown provider {model.provider!r} "
                f"(known: {known(providers)})"
            )
        if model.name in first_index:
            problems.append(
                f"models[{index}].name: {model.name!r} is already the name of "
                f"models[{first_index[model.name]}]"
            )
        else:
            first_index[model.name] = index
    return problems


def tier_problems(tiers: Mapping[str, TierConfig], models: Sequence[ModelConfig]) -> list[str]:
    """Tiers listing an unknown model or falling back to an unknown tier."""
    problems: list[str] = []
    names = {model.name for model in models}
    for tier_name, tier in tiers.items():
        for index, model_name in enumerate(tier.models):
            if model_name not in names:
                problems.append(
                    f"tiers.{tier_name}.models[{index}]: unknown model {model_name!r} "
                    f"(known: {known(names)})"
                )
        if tier.fallback is not None and tier.fallback not in tiers:
            problems.append(
                f"tiers.{tier_name}.fallback: unknown tier {tier.fallback!r} "
                f"(known: {known(tiers)})"
            )
    return problems


def cycle_problems(tiers: Mapping[str, TierConfig]) -> list[str]:
    """Fallback chains that loop, each loop reported once."""
    problems: list[str] = []
    reported: set[str] = set()
    for start in tiers:
        chain = [start]
        fallback = tiers[start].fallback
        while fallback is not None and fallback in tiers and fallback not in chain:
            chain.append(fallback)
            fallback = tiers[fallback].fallback
        if fallback is None or fallback not in chain:
            continue
        cycle = chain[chain.index(fallback) :]
        if not reported.intersection(cycle):
            reported.update(cycle)
            loop = " -> ".join([*cycle, fallback])
            problems.append(f"tiers.{cycle[-1]}.fallback: fallback cycle {loop}")
    return problems


def escalation_problems(tiers: Mapping[str, TierConfig]) -> list[str]:
    """Escalations to an unknown tier or to the tier itself."""
    # A loop of escalations is harmless (the planner visits a tier once) but always a typo.
    problems: list[str] = []
    for tier_name, tier in tiers.items():
        target = tier.escalate_to
        if target is not None and target not in tiers:
            problems.append(
                f"tiers.{tier_name}.escalate_to: unknown tier {target!r} (known: {known(tiers)})"
            )
        elif target == tier_name:
            problems.append(f"tiers.{tier_name}.escalate_to: a tier cannot escalate to itself")
    return problems


def untiered_problems(models: Sequence[ModelConfig], tiers: Mapping[str, TierConfig]) -> list[str]:
    """Models no tier lists: nothing could ever route to them."""
    tiered = {name for tier in tiers.values() for name in tier.models}
    return [
        f"models[{index}]: model {model.name!r} is in no tier; list it in a tier's models"
        for index, model in enumerate(models)
        if model.name not in tiered
    ]
