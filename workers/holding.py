"""Hold instead of fail: a job whose every remaining target is unavailable for now waits.

A skip at the last hop of a route used to fail the job. When the reason passes by itself (an
open circuit closes after its ``open_s``, a rate-limit slot comes), the job is held instead:
the same hop is published again for a later look, as long as its deadline leaves room. A
skip for a lasting reason (no usable API key) still ends the job, a spend cap holds only a
job with a deadline (``DEADLINE_HOLD_CLASSES``), and a skip
anywhere but the last hop reroutes as before: holding never wins over a real alternative.
A hold records no attempt (a job held for an hour would carry hundreds); the worker logs it,
and ``cascade queues`` counts it. The held job waits in the scheduler's held set for its queue
(``broker/scheduler/holds.py``), not as a countdown message inside a worker: a rate-limited or
circuit-open provider's backlog waits in Redis, and the dispatcher hands it back out only as
the queue has room.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from broker.scheduler.holds import HeldJobs
from broker.task_messages import hop_message
from workers.delivery import Delivery, NextMessage, RunOutcome, seconds_to_deadline

if TYPE_CHECKING:
    from workers.context import WorkerContext

__all__ = ["DEADLINE_HOLD_CLASSES", "HOLD_CLASSES", "held", "hold_countdown", "hold_in_scheduler"]

# Skip reasons that pass by themselves.
HOLD_CLASSES = frozenset({"CircuitOpen", "RateLimited"})
# Skip reasons that may pass before the job's deadline: a spend cap reached for now (calls in
# flight hold reservations that settle for less, and its day or month ends). Only a job with a
# deadline is held for one: without a deadline "for now" could mean until next month, and such
# a job ends as it did (a caller with no deadline gets the refusal at once).
DEADLINE_HOLD_CLASSES = frozenset({"SpendCapReached"})


def hold_countdown(
    error_class: str, *, hold_s: float, seconds_to_deadline: float | None
) -> float | None:
    """Seconds until the held job's next look, or None when it must not be held (a lasting
    reason, or a deadline that comes before the next look)."""
    if error_class in DEADLINE_HOLD_CLASSES and seconds_to_deadline is None:
        return None
    if error_class not in HOLD_CLASSES | DEADLINE_HOLD_CLASSES:
        return None
    if seconds_to_deadline is not None and hold_s >= seconds_to_deadline:
        return None
    return hold_s


def held(now: Delivery, error_class: str, reason: str, hold_s: float) -> RunOutcome | None:
    """The outcome that holds the delivery's job on its hop, or None when it must fail."""
    left = seconds_to_deadline(now.stored)
    countdown = hold_countdown(error_class, hold_s=hold_s, seconds_to_deadline=left)
    if countdown is None:
        return None
    return RunOutcome(
        "wait",
        f"held {countdown:.1f}s: {reason}",
        NextMessage(now.hop, now.target, countdown, held=True),
    )


def hold_in_scheduler(context: WorkerContext, job_id: str, following: NextMessage) -> None:
    """Put the job's next look in its queue's held set, due ``countdown_s`` from now."""
    store, target = context.store, following.target
    message = hop_message(context.catalog, job_id, following.hop, target, reply_to="")
    look_at = time.time() + (following.countdown_s or 0.0)
    HeldJobs(store.client, store.keys).hold(target.queue, job_id, message, look_at)
