"""The driver and the pipeline store against a real Redis, with no workers: what is written,
what is submitted, and what a crash between the two leaves."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from broker.catalog_file import load_catalog
from broker.client import CascadeClient, IdConflict
from broker.jobs import FailedResult
from broker.pipelines.facade import Pipelines
from broker.pipelines.graph import PipelineError
from broker.pipelines.records import PipelineStatus
from broker.settings import Settings
from tests.queued import queued

CATALOG = str(Path(__file__).parents[2] / "fixtures" / "catalog.yaml")
TWO_STEPS = {
    "steps": {
        "first": {"tier": "fast", "prompt": "hello {{ input.name }}"},
        "second": {"tier": "fast", "prompt": "{{ steps.first.text }}"},
    }
}


@pytest.fixture()
def pipelines(redis_url: str) -> Iterator[Pipelines]:
    url = redis_url.rsplit("/", 1)[0] + "/12"
    redis.Redis.from_url(url).flushdb()
    settings = Settings(redis_url=url, config=CATALOG, profile="emulated")
    client = CascadeClient(settings, load_catalog(CATALOG, "emulated"))
    yield Pipelines(client)
    client.close()


def _queued_messages(pipelines: Pipelines) -> int:
    # fast's first model is a1 on alpha: every first step is queued there
    return queued(pipelines.client.redis, "fast.alpha")


def test_a_submit_queues_the_first_step_under_its_deterministic_id(pipelines: Pipelines) -> None:
    pid = pipelines.submit(TWO_STEPS, {"name": "ada"}, pipeline_id="p1")
    stored = pipelines.client.store.load("p1.first.0")
    assert pid == "p1" and stored is not None
    assert stored.job.request.messages[0].content == "hello ada"
    assert stored.job.envelope.tags == {"pipeline": "p1", "step": "first", "round": "0"}
    assert _queued_messages(pipelines) == 1


def test_a_driver_killed_between_submit_and_record_leaves_the_step_submitted_once(
    pipelines: Pipelines,
) -> None:
    pipelines.submit(TWO_STEPS, {"name": "ada"}, pipeline_id="p2")
    # What a driver killed after its submit and before its record leaves: the job, no round.
    pipelines.client.redis.hdel(pipelines.client.keys.pipeline("p2"), "run:first:0")
    assert pipelines.driver.advance("p2")
    record = pipelines.record("p2")
    assert [run.job_id for run in record.runs["first"]] == ["p2.first.0"]
    assert _queued_messages(pipelines) == 1


def test_the_same_pipeline_id_submitted_again_runs_nothing_twice(pipelines: Pipelines) -> None:
    data = {"name": "x"}
    assert pipelines.submit(TWO_STEPS, data, pipeline_id="p3", tenant="acme") == "p3"
    assert pipelines.submit(TWO_STEPS, data, pipeline_id="p3", tenant="acme") == "p3"
    assert _queued_messages(pipelines) == 1
    with pytest.raises(IdConflict):
        pipelines.submit(TWO_STEPS, data, pipeline_id="p3", tenant="globex")


def test_a_bad_definition_or_envelope_is_refused_and_nothing_is_written(
    pipelines: Pipelines,
) -> None:
    with pytest.raises(PipelineError) as caught:
        pipelines.submit({"steps": {"a": {"tier": "fast", "prompt": "x", "after": ["b"]}}})
    assert "steps.a.after[0]: no step named 'b'" in str(caught.value)
    with pytest.raises(PipelineError) as caught:
        pipelines.submit(TWO_STEPS, {"name": "x"}, envelope={"colour": "red"})
    assert "envelope.colour: unknown field" in str(caught.value)
    with pytest.raises(PipelineError) as caught:
        pipelines.submit(TWO_STEPS, {})
    assert "input.name: missing (steps.first.prompt reads it)" in str(caught.value)
    assert pipelines.client.redis.dbsize() == 0


def test_a_cancelled_pipeline_ends_its_queued_step_and_submits_nothing_more(
    pipelines: Pipelines,
) -> None:
    pipelines.submit(TWO_STEPS, {"name": "x"}, pipeline_id="p4")
    assert pipelines.cancel("p4") is True
    ended = pipelines.client.store.result("p4.first.0")
    assert isinstance(ended, FailedResult) and ended.error_class == "Cancelled"
    assert pipelines.driver.advance("p4")
    assert pipelines.client.store.load("p4.second.0") is None
    assert pipelines.record("p4").status == PipelineStatus.CANCELLED
    assert pipelines.cancel("p4") is False
    assert pipelines.store.active() == []


def test_one_tenants_pipeline_is_unknown_to_another(pipelines: Pipelines) -> None:
    from broker.pipelines.facade import UnknownPipeline

    pipelines.submit(TWO_STEPS, {"name": "x"}, pipeline_id="p5", tenant="acme")
    with pytest.raises(UnknownPipeline):
        pipelines.record("p5", tenant="globex")


def test_cascade_pipeline_status_shows_the_steps_as_a_tree(pipelines: Pipelines) -> None:
    from click.testing import CliRunner

    from broker.cli import main

    pipelines.submit(TWO_STEPS, {"name": "x"}, pipeline_id="p6")
    url = pipelines.client.settings.redis_url
    options = ["--config", CATALOG, "--profile", "emulated", "--redis-url", url]
    shown = CliRunner().invoke(main, [*options, "pipeline", "status", "p6"])
    assert shown.exit_code == 0, shown.output
    assert "pipeline p6 [running]" in shown.output
    assert "round 0 · queued · tier fast" in shown.output and "waiting" in shown.output
    unknown = CliRunner().invoke(main, [*options, "pipeline", "status", "nope"])
    assert unknown.exit_code == 2


def test_a_streamed_pipeline_submits_only_its_output_steps_rounds_streamed(
    pipelines: Pipelines,
) -> None:
    side_by_side = {
        "output": "answer",
        "steps": {
            "notes": {"tier": "fast", "prompt": "notes on {{ input.name }}"},
            "answer": {"tier": "fast", "prompt": "answer {{ input.name }}"},
        },
    }
    pipelines.submit(side_by_side, {"name": "ada"}, pipeline_id="ps", envelope={"stream": True})
    notes, answer = (pipelines.client.store.load(f"ps.{step}.0") for step in ("notes", "answer"))
    assert notes is not None and answer is not None
    assert (notes.job.envelope.stream, answer.job.envelope.stream) == (False, True)
