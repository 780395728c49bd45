"""The tiers as rows of plain data, for ``cascade routes`` and other displays."""

from __future__ import annotations

from dataclasses import dataclass

from routing.catalog import Catalog
from routing.planner import chain_candidates
from routing.queues import queue_name

__all__ = ["TierRow", "describe_tiers"]


@dataclass(frozen=True, slots=True)
class TierRow:
    """One place on a tier's unfiltered route."""

    tier: str  # the tier a job asks for
    position: int  # 0 = tried first
    model: str
    provider: str
    queue: str
    via_fallback: bool  # reached through a fallback tier, not listed by ``tier`` itself
    target_tier: str  # the tier the target belongs to: ``tier`` or a fallback tier


def describe_tiers(catalog: Catalog) -> list[TierRow]:
    """Every tier's route before any job's needs filter it: tiers in declared order."""
    rows: list[TierRow] = []
    for tier in catalog.tiers:
        for position, candidate in enumerate(chain_candidates(catalog, tier)):
            rows.append(
                TierRow(
                    tier=tier,
                    position=position,
                    model=candidate.model.name,
                    provider=candidate.model.provider,
                    queue=queue_name(candidate.tier, candidate.model.provider),
                    via_fallback=candidate.tier != tier,
                    target_tier=candidate.tier,
                )
            )
    return rows
