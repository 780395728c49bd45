"""What one delivery decides, apart from the I/O that carries it out.

Pure functions and data: from a call's outcome and the retry decision to the record to write and
the job's next message. ``workers.runner.JobRunner`` reads Redis and calls the provider, and it,
``workers.endings`` and ``workers.failures`` apply what these return; nothing here opens a
connection, so every rule is testable on its own.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from adapters.base import ParsedResponse
from adapters.errors import ProviderError
from broker.job_holds import HoldRecord
from broker.jobs import (
    Attempt,
    AttemptOutcome,
    CompletionResult,
    TargetRef,
    Usage,
)
from broker.settings import Settings
from broker.store import StoredJob
from routing.catalog import ProviderConfig
from workers.decisions import Decision, Fail, Reroute, Retry, RetryPolicy, decide, next_hop

__all__ = [
    "WORKER_LOST",
    "CallMark",
    "CallOutcome",
    "Delivery",
    "NextMessage",
    "RunOutcome",
    "attempt_kind",
    "attempt_number",
    "call_mark",
    "completion_result",
    "planned_outcome",
    "retry_decision",
    "seconds_to_deadline",
    "skip_decision",
    "total_usage",
]


@dataclass(frozen=True, slots=True)
class NextMessage:
    """The job's next message, sent once this delivery has let go of the job."""

    hop: int
    target: TargetRef
    countdown_s: float | None = None
    moves_on: bool = False  # a reroute: the job's record moves to ``hop`` once it is sent
    held: bool = False  # waits in the scheduler's held set for its look, not as a countdown
    record: HoldRecord | None = None  # the job's hold entry after this hold (held only)


@dataclass(frozen=True, slots=True)
class RunOutcome:
    """What one delivery did. ``kind`` lets the task tell Flower the truth about it."""

    kind: Literal["succeeded", "failed", "retry", "reroute", "wait", "stand_down"]
    detail: str
    next: NextMessage | None = None
    claim_released: bool = False  # the step that ended the job let go of the claim as well


@dataclass(frozen=True, slots=True)
class CallOutcome:
    """A provider call as it went: an answer or an error, when it started and how long it took."""

    response: ParsedResponse | None
    error: ProviderError | None
    started_at: datetime
    duration_s: float


@dataclass(frozen=True, slots=True)
class Delivery:
    """The delivery under way: the job, where it is on its route, and its attempt number."""

    stored: StoredJob
    hop: int
    number: int
    previous: list[Attempt]
    claim_token: str
    delivery_tag: str | None = None  # its Celery message's, when it came through a worker

    @property
    def target(self) -> TargetRef:
        return self.stored.route[self.hop]

    @property
    def job_id(self) -> str:
        return self.stored.job.id

    @property
    def hold_id(self) -> str:
        """Names this one call's spend reservation."""
        return f"{self.job_id}:{self.stored.run}:{self.hop}:{self.number}"

    def attempt(self, outcome: AttemptOutcome, **fields: object) -> Attempt:
        return Attempt.model_validate(
            {
                "target": self.target,
                "hop": self.hop,
                "run": self.stored.run,
                "number": self.number,
                "outcome": outcome,
                **fields,
            }
        )


# The error class of a call whose worker died before it could record the call's outcome.
WORKER_LOST = "WorkerLost"
_LOST_REASON = (
    "the delivery was lost mid-call (its worker was killed or crashed, or lost Redis) before it"
    " recorded the outcome; the provider may have answered and billed it, so the call is"
    " counted at the spend it reserved"
)


@dataclass(frozen=True, slots=True)
class CallMark:
    """What marks a call in flight: its spend hold, and the attempt to record for it should its
    worker die (``broker.call_marks``)."""

    hold_id: str
    attempt: Attempt

    def to_json(self) -> str:
        return json.dumps({"hold_id": self.hold_id, "attempt": self.attempt.model_dump_json()})

    @classmethod
    def from_json(cls, raw: str) -> CallMark:
        data = json.loads(raw)
        return cls(data["hold_id"], Attempt.model_validate_json(data["attempt"]))

    def counted(self, was_counted: bool) -> Attempt:
        """The attempt to record: with the reserved cost if the ledger counted it, else none."""
        return self.attempt if was_counted else self.attempt.model_copy(update={"cost_usd": 0.0})


def call_mark(now: Delivery, reserved_usd: float, started_at: datetime, worker: str) -> CallMark:
    """The mark of the call ``now`` is about to make. Its attempt is a retry (the job's next
    delivery runs the hop again) whose cost is what the call reserved."""
    attempt = now.attempt(
        AttemptOutcome.RETRY,
        started_at=started_at,
        duration_s=0.0,
        error_class=WORKER_LOST,
        error_message=_LOST_REASON,
        cost_usd=reserved_usd,
        worker=worker,
    )
    return CallMark(now.hold_id, attempt)


def attempt_number(stored: StoredJob, hop: int, previous: list[Attempt]) -> int:
    """The number of the next call on ``hop`` in the job's current run."""
    return 1 + sum(1 for item in previous if item.hop == hop and item.run == stored.run)


def attempt_kind(decision: Decision) -> AttemptOutcome:
    """How a failed call is recorded, given what the job does next."""
    if isinstance(decision, Retry):
        return AttemptOutcome.RETRY
    if isinstance(decision, Reroute):
        return AttemptOutcome.REROUTE
    return AttemptOutcome.FAILED


def retry_decision(
    now: Delivery,
    error: ProviderError,
    provider: ProviderConfig,
    settings: Settings,
    context_windows: list[int],
) -> Decision:
    """What a failed call leads to: the same hop again, a later hop, or the job's failure."""
    return decide(
        error,
        hop=now.hop,
        calls_on_target=now.number,
        context_windows=context_windows,
        policy=RetryPolicy(
            max_retries=provider.max_retries,
            base_backoff_s=settings.base_backoff_s,
            max_backoff_s=settings.max_backoff_s,
            max_retry_after_s=settings.max_retry_after_s,
            max_timeout_retries=provider.max_timeout_retries,
        ),
        seconds_to_deadline=seconds_to_deadline(now.stored),
        reroute_on_content_block=now.stored.job.needs.reroute_on_content_block,
    )


def skip_decision(hop: int, context_windows: list[int], reason: str) -> Decision:
    """A target passed over without a call: on to the next hop, or fail if there is none."""
    following = next_hop(hop, context_windows)
    if following is not None:
        return Reroute(following)
    return Fail(f"every target on the route failed or was skipped; last: {reason}")


def planned_outcome(now: Delivery, decision: Retry | Reroute) -> RunOutcome:
    """The outcome of a retry or a reroute: the message that carries the job on."""
    if isinstance(decision, Retry):
        return RunOutcome(
            "retry",
            f"retry in {decision.countdown_s:.2f}s on hop {now.hop}",
            NextMessage(now.hop, now.target, decision.countdown_s),
        )
    destination = now.stored.route[decision.hop]
    return RunOutcome(
        "reroute",
        f"rerouted to hop {decision.hop} ({destination.queue})",
        NextMessage(decision.hop, destination, moves_on=True),
    )


def completion_result(
    now: Delivery, attempt: Attempt, response: ParsedResponse, finished_at: datetime
) -> CompletionResult:
    """The job's final result from its answering call and every call before it."""
    job, target = now.stored.job, now.target
    attempts = [*now.previous, attempt]
    return CompletionResult(
        id=response.id,
        created=response.created,
        model=response.model,
        choices=response.choices,
        usage=total_usage(attempts, response.usage),
        system_fingerprint=response.system_fingerprint,
        job_id=job.id,
        provider=target.provider,
        tier=target.tier,
        cost_usd=sum(item.cost_usd for item in attempts),
        attempts=attempts,
        batch_id=job.envelope.batch_id,
        tenant=job.envelope.tenant,
        finished_at=finished_at,
    )


def total_usage(attempts: list[Attempt], answering: Usage) -> Usage:
    """The answering call's usage, unless earlier calls of the job were paid for too (an answer
    that failed validation): then the job's usage is the sum, as its cost is."""
    paid = [item.usage for item in attempts if item.usage is not None]
    if len(paid) <= 1:
        return answering
    return Usage(
        prompt_tokens=sum(item.prompt_tokens for item in paid),
        completion_tokens=sum(item.completion_tokens for item in paid),
        total_tokens=sum(item.total_tokens for item in paid),
        cached_tokens=sum(item.cached_tokens for item in paid),
        reasoning_tokens=sum(item.reasoning_tokens for item in paid),
    )


def seconds_to_deadline(stored: StoredJob, now: datetime | None = None) -> float | None:
    """Seconds left before the job's deadline (0 once passed), or None when it has none."""
    deadline = stored.job.envelope.deadline
    if deadline is None:
        return None
    return max(0.0, (deadline - (now or datetime.now(UTC))).total_seconds())
