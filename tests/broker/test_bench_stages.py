"""The bench's cut of a cascade job's end to end time into stages (pure arithmetic on the job's
own timestamps)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from broker.bench.stages import JobMarks, event_time, stage_summary
from broker.jobs import Attempt, AttemptOutcome, CompletionResult, TargetRef, Usage

T0 = datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC)
TARGET = TargetRef(provider="emu", model="m1", model_id="emu-chat-1", tier="bench", queue="b.emu")


def _result(job_id: str, started: float, duration: float, finished: float) -> CompletionResult:
    answer = Attempt(
        target=TARGET,
        hop=0,
        number=1,
        started_at=T0 + timedelta(seconds=started),
        duration_s=duration,
        outcome=AttemptOutcome.SUCCESS,
    )
    return CompletionResult(
        id="chatcmpl-1", created=1, model="emu-chat-1", choices=[], usage=Usage(),
        job_id=job_id, provider="emu", tier="bench", cost_usd=0.0, attempts=[answer],
        finished_at=T0 + timedelta(seconds=finished),
    )  # fmt: skip


def test_the_stages_add_up_to_the_jobs_end_to_end_time() -> None:
    base = T0.timestamp()
    marks = {
        "a": JobMarks(submitted=base, recorded=base + 0.001, running=base + 0.003, heard=None),
    }
    result = _result("a", started=0.004, duration=1.0, finished=1.0045)

    summary = stage_summary(marks, [result])

    p50 = {name: summary[name].p50 for name in ("submit", "delivery", "admission", "finish")}
    assert p50 == {"submit": 1.0, "delivery": 2.0, "admission": 1.0, "finish": 0.5}
    assert summary["call"].p50 == 1000.0
    assert summary["jobs"] == 1
    assert summary["heard"].p50 == 0.0  # never heard: no sample


def test_a_job_without_its_record_or_running_time_is_left_out() -> None:
    base = T0.timestamp()
    marks = {
        "a": JobMarks(submitted=base, recorded=None, running=base, heard=None),
        "b": JobMarks(submitted=base, recorded=base, running=None, heard=None),
    }
    results = [_result(job, started=0.0, duration=1.0, finished=1.0) for job in ("a", "b", "c")]

    assert stage_summary(marks, results)["jobs"] == 0


def test_an_event_time_is_read_as_unix_seconds() -> None:
    assert event_time("2026-12-01T12:00:00.250000+00:00") == T0.timestamp() + 0.25
