"""Reading a streamed pipeline, as pure functions: the cursor a reader resumes from, which
round of the output step it reads next, and what a reset before a later round says."""

from __future__ import annotations

import time
from typing import Any

import pytest

from broker.pipelines.graph import parse_pipeline
from broker.pipelines.records import PipelineStatus, StepRun
from broker.pipelines.state import PipelineRecord
from broker.pipelines.streaming import Cursor, parse_cursor, round_reset, step_after
from tests.broker.pipelines.test_decisions import VALIDATED


def _record(*runs: StepRun) -> PipelineRecord:
    grouped: dict[str, list[StepRun]] = {}
    for run in runs:
        grouped.setdefault(run.step, []).append(run)
    return PipelineRecord(
        pipeline_id="p",
        tenant="default",
        status=PipelineStatus.RUNNING,
        spec=parse_pipeline(VALIDATED, tiers=["fast", "smart"]),
        data={},
        created_at=time.time(),
        runs=grouped,
        result=None,
        envelope={"stream": True},
    )


def _run(step: str, round_: int, **extra: Any) -> StepRun:
    return StepRun(step=step, round=round_, status="queued", job_id=f"p.{step}.{round_}", **extra)


def test_a_cursor_is_read_back_from_the_event_id_it_gave() -> None:
    cursor = Cursor(2, "1700000000000-3")
    assert parse_cursor(cursor.event_id()) == cursor
    assert parse_cursor(None) == Cursor() and parse_cursor("") == Cursor()


@pytest.mark.parametrize("bad", ["0-0", "x:0-0", "1:abc", "1:", "-1:0-0"])
def test_a_last_event_id_not_of_the_form_round_colon_entry_is_refused_naming_it(bad: str) -> None:
    with pytest.raises(ValueError, match="Last-Event-ID: .* is not <round>:<entry id>"):
        parse_cursor(bad)


def test_a_reader_starts_at_the_output_steps_first_round_once_it_is_recorded() -> None:
    assert step_after(_record(_run("check", 0)), Cursor()) is None
    assert step_after(_record(_run("answer", 0)), Cursor()) == Cursor(0)


def test_a_reader_moves_to_the_next_round_only_once_one_is_recorded() -> None:
    first = _run("answer", 0)
    assert step_after(_record(first), Cursor(0, ended=True)) is None
    record = _record(first, _run("answer", 1, tier="smart", feedback="too short"))
    assert step_after(record, Cursor(0, ended=True)) == Cursor(1)


def test_a_reset_names_the_round_its_tier_and_the_validators_feedback() -> None:
    record = _record(_run("answer", 0), _run("answer", 1, tier="smart", feedback="too short"))
    told = round_reset(record, 1)
    assert told["error_class"] == "PipelineRoundRejected" and told["round"] == 1
    assert told["message"] == "step 'answer' runs again as round 1 on tier smart: too short"
