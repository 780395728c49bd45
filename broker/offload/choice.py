"""Where a planned job waits: its first target's scheduler queue, or the parking queue of the
target's provider when the offload decision says it may wait for the batch price; a job not
offloaded may be held back in its queue until a cheaper price window (routing/offpeak.py).
Pure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from broker.jobs import CompletionJob, TargetRef
from broker.settings import Settings
from routing.catalog import Catalog
from routing.offload import OffloadDecision, decide_offload
from routing.offpeak import WaitDecision, WaitRules, decide_wait

__all__ = [
    "PARKING_PREFIX",
    "OffloadRules",
    "Placement",
    "WaitRules",
    "offload_rules",
    "offloading_providers",
    "parking_queue",
    "place",
    "wait_rules",
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


def offload_rules(settings: Settings) -> OffloadRules | None:
    """The offload decision's rules, or None when offloading is off."""
    if not settings.offload_enabled:
        return None
    return OffloadRules(
        margin=timedelta(seconds=settings.offload_margin_s),
        min_wait=timedelta(seconds=settings.offload_min_wait_s),
    )


def wait_rules(settings: Settings, catalog: Catalog) -> WaitRules | None:
    """The price-window decision's rules, or None when it is off or no model has windows."""
    if not settings.offpeak_enabled or not any(m.price_windows for m in catalog.models):
        return None
    return WaitRules(
        margin=timedelta(seconds=settings.offpeak_margin_s),
        min_deadline=timedelta(seconds=settings.offpeak_min_deadline_s),
        min_saving=settings.offpeak_min_saving,
        # a job never waits past half its record's life
        horizon=min(timedelta(days=7), timedelta(seconds=settings.result_ttl_s / 2)),
    )


@dataclass(frozen=True, slots=True)
class Placement:
    """The queue a job's scheduler entry goes to and the score it is ordered by there (its
    deadline as a Unix time, or None for arrival order), with the decision when one was made;
    ``not_before`` (a Unix time) holds it back until its price window opens."""

    queue: str
    deadline: float | None
    decision: OffloadDecision | None = None
    offpeak: WaitDecision | None = None

    @property
    def not_before(self) -> float | None:
        held = self.offpeak
        return None if held is None or held.until is None else held.until.timestamp()

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
    windows: WaitRules | None = None,
) -> Placement:
    """The job's own queue unless ``rules`` are given and the decision offloads it. A parked
    job is ordered by its effective deadline (the earlier of its own and its batch's window),
    which is also what its fallback time is reckoned from. A job left in its own queue, with
    ``windows`` given and price windows on its first target, carries the wait decision."""
    deadline = job.envelope.deadline
    own = Placement(first.queue, None if deadline is None else deadline.timestamp())
    if rules is None:
        return _in_own_queue(own, job, first, catalog, windows, now, completion_window)
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
        own = Placement(own.queue, own.deadline, decision)
        return _in_own_queue(own, job, first, catalog, windows, now, completion_window)
    # the score is when the job must leave the parking at the latest
    return Placement(parking_queue(first.provider), decision.fall_back_at.timestamp(), decision)


def _in_own_queue(
    own: Placement,
    job: CompletionJob,
    first: TargetRef,
    catalog: Catalog,
    windows: WaitRules | None,
    now: datetime,
    completion_window: timedelta | None,
) -> Placement:
    if windows is None or not catalog.model(first.model).price_windows:
        return own
    held = decide_wait(
        job, [first], catalog, now=now, rules=windows, completion_window=completion_window
    )
    return Placement(own.queue, own.deadline, own.decision, held)
