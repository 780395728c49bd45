"""Hold instead of fail: a job whose every remaining target is unavailable for now waits.

A skip at the last hop of a route used to fail the job. When the reason passes by itself, the
job is held instead: the same hop is looked at again later, without a call, as long as its
deadline leaves room. How long depends on the reason (``hold_look_s``, pure):

- **an open circuit**: until the circuit lets a probe through (its ``open_until``, which the
  circuit's refusal gives); half-open with its probe in flight, ``CASCADE_HOLD_S``, and sooner:
  the worker whose probe closes the circuit releases every job held for it
  (``broker/scheduler/holds.py``, ``release_circuit``). A circuit that opens again only after
  the deadline fails the job now.
- **no rate-limit slot soon enough**: ``CASCADE_HOLD_S``. (A wait for a slot that does come in
  time is scored by the slot itself: ``slot_wait``.)
- **a spend cap reached for now** (calls in flight hold reservations that settle for less; the
  cap's day or month ends): looked at again after ``CASCADE_HOLD_S``, then twice as long each
  time up to ``CASCADE_SPEND_HOLD_LOOK_MAX_S`` (60 s), and at the cap's reset; with or without
  a deadline, but never longer than ``CASCADE_SPEND_HOLD_MAX_S`` from the job's first hold,
  nor past its deadline.
  Then it ends ``SpendCapReached`` saying so. A cap that can never allow the call (its
  reservation alone is above the cap) is lasting: the job fails at once, as for no usable key.

A skip anywhere but the last hop reroutes as before: holding never wins over a real
alternative. Each hold rewrites the job's one hold entry (``broker/job_holds.py``: reason,
first and last time, count), never an attempt, so a job held for an hour carries one entry.
The held job waits in the scheduler's held set for its queue, not as a countdown message
inside a worker: a rate-limited or circuit-open provider's backlog waits in Redis, and the
dispatcher hands it back out only as the queue has room.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import redis
import structlog

from broker.job_holds import next_hold_record
from broker.scheduler.holds import HeldJobs
from broker.settings import Settings
from broker.task_messages import hop_message
from routing.circuit import CircuitState, Transition
from routing.spend import SpendGrant
from workers.admission import Skip
from workers.delivery import Delivery, NextMessage, RunOutcome, seconds_to_deadline

if TYPE_CHECKING:
    from workers.context import WorkerContext
    from workers.telemetry import Telemetry

__all__ = [
    "HOLD_CLASSES",
    "HoldPolicy",
    "circuits_changed",
    "hold_in_scheduler",
    "hold_look_s",
    "held",
    "release_on_close",
    "slot_wait",
    "spend_skip",
]

log = structlog.get_logger("cascade.worker")

# Skip reasons that pass by themselves, or may (a spend cap reached for now).
HOLD_CLASSES = frozenset({"CircuitOpen", "RateLimited", "SpendCapReached"})
# No look is sooner than this (a circuit that opens again in a millisecond).
_MIN_LOOK_S = 0.05
# A cap's reset is looked at just after it: the reservation must fall in the new window.
_AFTER_RESET_S = 0.1


@dataclass(frozen=True, slots=True)
class HoldPolicy:
    hold_s: float  # CASCADE_HOLD_S
    spend_hold_max_s: float  # CASCADE_SPEND_HOLD_MAX_S
    # CASCADE_SPEND_HOLD_LOOK_MAX_S: the longest wait between two looks of a spend-capped job
    # (a freed reservation is noticed within it; more often costs a delivery per held job)
    spend_look_max_s: float = 60.0

    @classmethod
    def of(cls, settings: Settings) -> HoldPolicy:
        return cls(settings.hold_s, settings.spend_hold_max_s, settings.spend_hold_look_max_s)


def hold_look_s(
    skip: Skip,
    *,
    policy: HoldPolicy,
    seconds_to_deadline: float | None,
    first_held_s_ago: float | None,
    holds: int,
) -> float | str | None:
    """Seconds until a held job's next look; or why it ends now after being held (a string,
    for its failure); or None when the reason is not one to hold for (it fails as skipped).

    ``first_held_s_ago``: since the job's first hold (None: never held); ``holds``: how many
    times it was held so far."""
    left = seconds_to_deadline
    if skip.error_class not in HOLD_CLASSES or skip.lasting:
        return None
    if skip.error_class == "SpendCapReached":
        return _spend_look_s(skip, policy, left, first_held_s_ago or 0.0, holds)
    look = policy.hold_s
    if skip.error_class == "CircuitOpen" and skip.opens_in_s is not None:
        look = skip.opens_in_s  # no call can pass before; a close releases a half-open's sooner
    if left is not None and look >= left:
        return None
    return max(look, _MIN_LOOK_S)


def _spend_look_s(
    skip: Skip, policy: HoldPolicy, left: float | None, held_s: float, holds: int
) -> float | str:
    bound_left = policy.spend_hold_max_s - held_s
    if bound_left <= 0:
        return (
            f"held {held_s:.0f}s for a spend cap, the longest such hold"
            f" (CASCADE_SPEND_HOLD_MAX_S, {policy.spend_hold_max_s:.0f}s)"
        )
    look = min(policy.hold_s * (1 << min(holds, 16)), policy.spend_look_max_s, bound_left)
    if skip.resets_in_s is not None:
        look = min(look, skip.resets_in_s + _AFTER_RESET_S)
    if left is not None:
        if left <= 2 * _MIN_LOOK_S:
            return "its deadline came before the spend cap allowed the call"
        look = min(look, left - _MIN_LOOK_S)  # a last look just before the deadline
    return max(look, _MIN_LOOK_S)


def spend_skip(grant: SpendGrant, now: datetime) -> Skip:
    """The skip of a call the spend ledger refused, with when the cap's window ends."""
    resets = grant.resets_at
    return Skip(
        "SpendCapReached",
        grant.reason or "a spend cap",
        resets_in_s=None if resets is None else max((resets - now).total_seconds(), 0.0),
        lasting=grant.lasting,
    )


def held(
    now: Delivery, skip: Skip, policy: HoldPolicy, at: float | None = None
) -> RunOutcome | str | None:
    """The outcome that holds the delivery's job on its hop; or why it ends now after its
    holds (a string); or None when it must fail as skipped."""
    moment = time.time() if at is None else at
    previous = now.stored.held
    look = hold_look_s(
        skip,
        policy=policy,
        seconds_to_deadline=seconds_to_deadline(now.stored),
        first_held_s_ago=None if previous is None else moment - previous.first_at,
        holds=0 if previous is None else previous.count,
    )
    if not isinstance(look, float):
        return look
    return _hold(now, skip.error_class, skip.reason, look, moment, f"held {look:.1f}s")


def slot_wait(now: Delivery, seconds: float, reason: str) -> RunOutcome:
    """Hold the job on its hop until its rate-limit slot (or a 429's hold on its keys) comes."""
    return _hold(now, "RateLimited", reason, seconds, time.time(), f"waiting {seconds:.2f}s")


def _hold(
    now: Delivery, error_class: str, reason: str, look: float, moment: float, said: str
) -> RunOutcome:
    target = now.target
    record = next_hold_record(
        now.stored.held,
        error_class=error_class,
        reason=reason,
        provider=target.provider,
        model=target.model,
        hop=now.hop,
        now=moment,
        look_at=moment + look,
    )
    return RunOutcome(
        "wait", f"{said}: {reason}", NextMessage(now.hop, target, look, held=True, record=record)
    )


def hold_in_scheduler(context: WorkerContext, job_id: str, following: NextMessage) -> None:
    """Put the job's next look in its queue's held set, due ``countdown_s`` from now, with its
    hold entry on its record."""
    store, target = context.store, following.target
    message = hop_message(context.catalog, job_id, following.hop, target, reply_to="")
    record = following.record
    look_at = record.look_at if record is not None else time.time() + (following.countdown_s or 0)
    HeldJobs(store.client, store.keys).hold(target.queue, job_id, message, look_at, record=record)


def release_on_close(context: WorkerContext, change: Transition) -> None:
    """When a model's circuit closes, the jobs held for it look again now, not when their
    holds run out."""
    kind, _, name = change.target.partition(":")
    if change.new is not CircuitState.CLOSED or kind != "model":
        return
    provider, _, model = name.partition("/")
    store = context.store
    try:
        released = HeldJobs(store.client, store.keys).release_circuit(provider, model, time.time())
    except redis.RedisError as exc:  # they still look at their own times
        log.warning("held jobs not released", circuit=change.target, error=str(exc))
        return
    if released:
        log.info("circuit closed: held jobs released", circuit=change.target, jobs=released)


def circuits_changed(context: WorkerContext, telemetry: Telemetry, replies: Iterable[Any]) -> None:
    """Report each circuit change among a round trip's ``replies`` (the other scripts' replies
    are passed over), and release the jobs held for a model whose circuit closed."""
    for reply in replies:
        if isinstance(reply, Transition):
            telemetry.circuit_changed(reply)
            release_on_close(context, reply)
