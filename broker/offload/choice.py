"""Where a planned job waits: its first target's scheduler queue, or the parking queue of the
target's provider when the offload decision says it may wait for the batch price. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from broker.jobs import CompletionJob, TargetRef
from routing.catalog import Catalog
from routing.offload import OffloadDecision, decide_offload

__all__ = [
    "PARKING_PREFIX",
    "OffloadRules",
    "Placement",
    "offloading_providers",
    "parking_queue",
    "place",
]

# Parked jobs sit in the scheduler's sets of this queue; no dispatcher serves it, so nothing
# reaches a Celery list until the poller sends a job back to its own queue.
PARKING_PREFIX = "offload."


def parking_queue(provider: str) -> str:
    return f"{PARKING_PREFIX}{provider}"


def offloading_providers(catalog: Catalog, providers: Sequence[str]) -> list[str]:
    """Those of ``providers`` that jobs can be offloaded to: a batch mode on the provider and
    a batch price on at least one of its models. Where there are none, offloading being on
    costs nothing: no decision is made at submit and no poller runs."""
    priced = {model.provider for model in catalog.models if model.batch_price is not None}
    return [name for name in providers if catalog.provider(name).batch and name in priced]


@dataclass(frozen=True, slots=True)
class OffloadRules:
    """The settings the decision takes (``CASCADE_OFFLOAD_*``)."""

    margin: timedelta
    min_wait: timedelta


@dataclass(frozen=True, slots=True)
class Placement:
    """The queue a job's scheduler entry goes to and the score it is ordered by there (its
    deadline as a Unix time, or None for arrival order), with the decision when one was made."""

    queue: str
    deadline: float | None
    decision: OffloadDecision | None = None

    @property
    def parked(self) -> bool:
        return self.decision is not None and self.decision.offload


def place(
    job: CompletionJob,
    first: TargetRef,
    catalog: Catalog,
    rules: OffloadRules | None,
    *,
    now: datetime,
    completion_window: timedelta | None = None,
) -> Placement:
    """The job's own queue unless ``rules`` are given and the decision offloads it. A parked
    job is ordered by its effective deadline (the earlier of its own and its batch's window),
    which is also what its fallback time is reckoned from."""
    deadline = job.envelope.deadline
    own = Placement(first.queue, None if deadline is None else deadline.timestamp())
    if rules is None:
        return own
    decision = decide_offload(
        job,
        first,
        catalog,
        now=now,
        margin=rules.margin,
        min_wait=rules.min_wait,
        completion_window=completion_window,
    )
    if not decision.offload or decision.fall_back_at is None:
        return Placement(own.queue, own.deadline, decision)
    # the score is when the job must leave the parking at the latest
    return Placement(parking_queue(first.provider), decision.fall_back_at.timestamp(), decision)
