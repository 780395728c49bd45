"""The runner's pure decisions: attempt numbers, hold ids, skips, retries and reroutes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from broker.jobs import Attempt, AttemptOutcome, CompletionJob, JobStatus, TargetRef, Usage
from broker.store import StoredJob
from workers.decisions import Fail, Reroute, Retry
from workers.delivery import (
    WORKER_LOST,
    CallMark,
    Delivery,
    attempt_kind,
    attempt_number,
    call_mark,
    planned_outcome,
    seconds_to_deadline,
    skip_decision,
    total_usage,
)

ROUTE = [
    TargetRef(
        provider="alpha", model="a1", model_id="alpha-small-1", tier="fast", queue="fast.alpha"
    ),
    TargetRef(provider="beta", model="b1", model_id="beta-fast-1", tier="fast", queue="fast.beta"),
]


def _stored(run: int = 0, deadline: datetime | None = None) -> StoredJob:
    job = CompletionJob.model_validate(
        {
            "needs": {"tier": "fast"},
            "request": {"messages": [{"role": "user", "content": "hi"}]},
            "envelope": {"id": "job-1", "deadline": deadline},
        }
    )
    return StoredJob(job=job, route=ROUTE, status=JobStatus.RUNNING, hop=0, run=run)


def _attempt(hop: int, run: int, usage: Usage | None = None) -> Attempt:
    return Attempt.model_validate(
        {
            "target": ROUTE[hop],
            "hop": hop,
            "run": run,
            "number": 1,
            "started_at": datetime(2026, 12, 1, tzinfo=UTC),
            "duration_s": 0.5,
            "outcome": AttemptOutcome.RETRY,
            "usage": usage,
        }
    )


def test_the_attempt_number_counts_only_calls_on_the_same_hop_and_run() -> None:
    previous = [_attempt(0, 0), _attempt(0, 0), _attempt(1, 0), _attempt(0, 1)]
    assert attempt_number(_stored(run=0), 0, previous) == 3
    assert attempt_number(_stored(run=1), 0, previous) == 2
    assert attempt_number(_stored(run=0), 1, previous) == 2


def test_each_call_of_a_job_gets_its_own_hold_id() -> None:
    first = Delivery(_stored(), 0, 1, [], "token")
    second = Delivery(_stored(), 0, 2, [], "token")
    replayed = Delivery(_stored(run=1), 0, 1, [], "token")
    assert len({first.hold_id, second.hold_id, replayed.hold_id}) == 3


def test_a_skip_moves_on_along_the_route_or_fails_at_its_end() -> None:
    assert skip_decision(0, [16000, 32000], "circuit open") == Reroute(1)
    last = skip_decision(1, [16000, 32000], "circuit open")
    assert isinstance(last, Fail) and "circuit open" in last.reason


def test_a_failed_call_is_recorded_by_what_the_job_does_next() -> None:
    assert attempt_kind(Retry(1.0)) is AttemptOutcome.RETRY
    assert attempt_kind(Reroute(1)) is AttemptOutcome.REROUTE
    assert attempt_kind(Fail("no")) is AttemptOutcome.FAILED


def test_a_retry_sends_the_same_hop_later_and_a_reroute_moves_the_record_on() -> None:
    now = Delivery(_stored(), 0, 1, [], "token")
    retry = planned_outcome(now, Retry(2.5))
    assert retry.kind == "retry" and retry.next is not None
    assert (retry.next.hop, retry.next.countdown_s, retry.next.moves_on) == (0, 2.5, False)
    reroute = planned_outcome(now, Reroute(1))
    assert reroute.kind == "reroute" and reroute.next is not None
    assert (reroute.next.hop, reroute.next.target, reroute.next.moves_on) == (1, ROUTE[1], True)


def test_a_jobs_usage_sums_every_paid_call() -> None:
    paid = Usage(prompt_tokens=10, completion_tokens=5, total_tokens=15)
    answer = Usage(prompt_tokens=20, completion_tokens=1, total_tokens=21)
    assert total_usage([_attempt(0, 0)], answer) == answer
    summed = total_usage([_attempt(0, 0, paid), _attempt(1, 0, answer)], answer)
    assert (summed.prompt_tokens, summed.total_tokens) == (30, 36)


def test_the_deadline_counts_down_to_zero_and_never_below() -> None:
    start = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    stored = _stored(deadline=start + timedelta(seconds=30))
    assert seconds_to_deadline(stored, start) == 30
    assert seconds_to_deadline(stored, start + timedelta(minutes=5)) == 0
    assert seconds_to_deadline(_stored(), start) is None


def test_a_calls_mark_carries_its_hold_and_the_attempt_to_record_if_it_is_lost() -> None:
    now = Delivery(_stored(), 0, 2, [], "token")
    started = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    mark = call_mark(now, 0.0042, started, "alpha@host")
    again = CallMark.from_json(mark.to_json())
    assert again == mark and again.hold_id == now.hold_id
    lost = again.counted(True)
    assert (lost.outcome, lost.error_class, lost.number, lost.hop) == (
        AttemptOutcome.RETRY,
        WORKER_LOST,
        2,
        0,
    )
    assert (lost.cost_usd, lost.started_at, lost.worker) == (0.0042, started, "alpha@host")
    assert again.counted(False).cost_usd == 0.0  # the ledger had nothing left to count
