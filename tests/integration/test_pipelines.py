"""Pipelines on real parts: a real Redis, ``cascade worker`` processes (each running a pipeline
driver), the emulator over HTTP. Each example shape, the budget cap, cancel, and a worker
SIGKILLed mid-pipeline."""

from __future__ import annotations

import json
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import yaml

from broker.client import CascadeClient
from broker.jobs import CompletionResult, FailedResult
from broker.local_stack import LocalStack
from broker.pipelines.facade import Pipelines
from broker.pipelines.records import PipelineStatus
from broker.webhooks import SIGNATURE_HEADER, verify_signature
from tests.integration.support import (
    FIXTURE_CATALOG,
    Emulator,
    api_server,
    client_for,
    fresh_emulator,
    stack_on_database,
    wait_for,
)
from tests.integration.test_batches_api import Receiver

pytestmark = pytest.mark.integration

LABEL = {
    "type": "object",
    "properties": {"label": {"type": "string", "enum": ["simple", "complex"]}},
    "required": ["label"],
}
TRIAGE: dict[str, Any] = {
    "name": "triage",
    "steps": {
        "classify": {
            "tier": "fast",
            "prompt": "Label the question simple or complex.\n{{ input.question }}",
            "output_schema": LABEL,
            "max_tokens": 20,
        },
        "answer": {
            "tier_from": {
                "step": "classify",
                "field": "label",
                "tiers": {"simple": "fast", "complex": "smart"},
            },
            "prompt": "{{ input.question }}",
            "max_tokens": 50,
        },
    },
}
VALIDATED: dict[str, Any] = {
    "max_rounds": 3,
    "steps": {
        "answer": {
            "tier": "fast",
            "escalate": ["smart"],
            "max_tokens": 50,
            "prompt": "{{ input.question }}\n{{ feedback }}",
        },
        "check": {
            "tier": "fast",
            "validates": "answer",
            "max_tokens": 50,
            "prompt": "Say pass or fail.\n{{ input.question }}\n{{ steps.answer.text }}",
        },
    },
}
FAN_OUT: dict[str, Any] = {
    "steps": {
        "pros": {"tier": "fast", "prompt": "Pros of {{ input.topic }}", "max_tokens": 30},
        "cons": {"tier": "fast", "prompt": "Cons of {{ input.topic }}", "max_tokens": 30},
        "summary": {
            "tier": "smart",
            "max_tokens": 50,
            "prompt": "Summarise: {{ steps.pros.text }} | {{ steps.cons.text }}",
        },
    },
}


KEY_A, KEY_B = "sk-pipes-acme", "sk-pipes-globex"
SECRET_A = "whsec-pipes-acme"
# One worker for each provider of the fixture catalog.
WORKERS = {name: (name, 4) for name in ("alpha", "beta", "gamma")}


def catalog_with_pipelines(directory: Path, named: dict[str, Any]) -> str:
    """The fixture catalog with a ``pipelines:`` section of ``named`` (their ``name`` left out:
    the catalog's key names them)."""
    path = directory / "catalog.yaml"
    section = {name: {k: v for k, v in spec.items() if k != "name"} for name, spec in named.items()}
    path.write_text(FIXTURE_CATALOG.read_text() + "\n" + yaml.safe_dump({"pipelines": section}))
    return str(path)


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The fixture catalog with a ``pipelines:`` section naming TRIAGE."""
    return catalog_with_pipelines(tmp_path_factory.mktemp("pipelines-catalog"), {"triage": TRIAGE})


@pytest.fixture(scope="module")
def stack(
    redis_url: str, catalog: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalStack]:
    workers = WORKERS
    logs = tmp_path_factory.mktemp("pipelines-logs")
    env = {
        "CASCADE_API_KEYS": f"acme={KEY_A},globex={KEY_B}",
        "CASCADE_WEBHOOK_SECRETS": f"acme={SECRET_A}",
        # the receiver listens on 127.0.0.1, which webhook targets may not be unless allowed
        "CASCADE_WEBHOOK_ALLOW": "127.0.0.1/32",
    }
    with stack_on_database(
        redis_url, 11, config=catalog, log_dir=logs, workers=workers, env=env
    ) as s:
        yield s


@pytest.fixture
def client(stack: LocalStack, catalog: str) -> Iterator[CascadeClient]:
    with client_for(stack, catalog) as found:
        yield found


@pytest.fixture
def emulator(stack: LocalStack) -> Iterator[Emulator]:
    with fresh_emulator(stack) as control:
        yield control


@pytest.fixture
def pipelines(client: CascadeClient) -> Pipelines:
    return Pipelines(client)


def _rounds(result: Any, step: str) -> list[Any]:
    return [run for run in result.steps if run.step == step]


def test_triage_answers_a_complex_question_on_the_tier_the_classifier_picks(
    pipelines: Pipelines, emulator: Emulator
) -> None:
    question = {"question": "A complex question: prove the four colour theorem."}
    pid = pipelines.client.submit_pipeline(TRIAGE, question)
    result = pipelines.wait(pid, 60)
    assert result.status == PipelineStatus.SUCCEEDED, result.error
    [classify] = _rounds(result, "classify")
    [answer] = _rounds(result, "answer")
    assert classify.output == {"label": "complex"}
    assert (answer.tier, answer.provider) == ("smart", "gamma")
    assert result.text == answer.text
    assert result.cost_usd == pytest.approx(classify.cost_usd + answer.cost_usd)
    assert emulator.calls()["total"] == 2


def test_triage_keeps_a_simple_question_on_the_cheap_tier(pipelines: Pipelines) -> None:
    pid = pipelines.submit(TRIAGE, {"question": "A simple one: what is 2 + 2?"})
    result = pipelines.wait(pid, 60)
    assert [run.tier for run in _rounds(result, "answer")] == ["fast"]


def test_a_validator_that_passes_ends_the_pipeline_in_one_round(pipelines: Pipelines) -> None:
    result = pipelines.wait(pipelines.submit(VALIDATED, {"question": "Name a colour."}), 60)
    assert result.status == PipelineStatus.SUCCEEDED, result.error
    assert [run.round for run in _rounds(result, "answer")] == [0]


def test_a_failing_validator_escalates_with_feedback_until_the_rounds_run_out(
    pipelines: Pipelines, client: CascadeClient
) -> None:
    pid = pipelines.submit(VALIDATED, {"question": "This must fail: a fail case."})
    result = pipelines.wait(pid, 90)
    assert result.status == PipelineStatus.FAILED
    assert "all 3 rounds" in (result.error or "")
    answers = _rounds(result, "answer")
    assert [run.tier for run in answers] == ["fast", "smart", "smart"]
    assert [run.job_id for run in answers] == [f"{pid}.answer.{r}" for r in range(3)]
    # The round after a failed verdict carries the validator's feedback in its prompt.
    feedback = _rounds(result, "check")[0].output["feedback"]
    stored = client.store.load(f"{pid}.answer.1")
    assert stored is not None and feedback in str(stored.job.request.messages[-1])


def test_parallel_steps_both_run_before_their_join_reads_them(
    pipelines: Pipelines, client: CascadeClient
) -> None:
    pid = pipelines.submit(FAN_OUT, {"topic": "queues"})
    result = pipelines.wait(pid, 60)
    assert result.status == PipelineStatus.SUCCEEDED, result.error
    [pros], [cons] = _rounds(result, "pros"), _rounds(result, "cons")
    stored = client.store.load(f"{pid}.summary.0")
    assert stored is not None
    assert f"Summarise: {pros.text} | {cons.text}" in str(stored.job.request.messages[-1])


def test_no_step_may_spend_more_than_the_budget_left(
    pipelines: Pipelines, client: CascadeClient
) -> None:
    spec = {
        "budget_usd": 0.01,
        "steps": {
            "first": {"tier": "fast", "prompt": "hi", "max_tokens": 20},
            "big": {"tier": "smart", "prompt": "{{ steps.first.text }}", "max_tokens": 8000},
        },
    }
    pid = pipelines.submit(spec, {})
    result = pipelines.wait(pid, 60)
    stored = client.store.load(f"{pid}.first.0")
    assert stored is not None and stored.job.needs.max_cost_usd == pytest.approx(0.01)
    assert result.status == PipelineStatus.FAILED
    assert "max_cost" in (result.error or "") or "budget" in (result.error or "")
    assert client.store.load(f"{pid}.big.0") is None
    assert result.cost_usd <= 0.01


def test_cancel_ends_the_pipeline_and_its_queued_step(
    pipelines: Pipelines, client: CascadeClient, emulator: Emulator
) -> None:
    emulator.latency(providers={"alpha": 2.0, "beta": 2.0})
    pid = pipelines.submit(FAN_OUT, {"topic": "cancel me"})
    assert pipelines.cancel(pid) is True
    result = pipelines.wait(pid, 5)
    assert result.status == PipelineStatus.CANCELLED
    for step in ("pros", "cons"):
        ended = client.wait(f"{pid}.{step}.0", 10)
        assert isinstance(ended, FailedResult) and ended.error_class == "Cancelled"
    emulator.latency(providers={"alpha": 0.0, "beta": 0.0})
    assert client.store.load(f"{pid}.summary.0") is None
    assert pipelines.cancel(pid) is False


def test_a_worker_killed_mid_pipeline_loses_no_step_and_runs_none_twice(
    stack: LocalStack, pipelines: Pipelines, client: CascadeClient, emulator: Emulator
) -> None:
    emulator.latency(providers={"alpha": 3.0})
    spec = {
        "steps": {
            "first": {"tier": "fast", "prompt": "one {{ input.n }}", "max_tokens": 20},
            "second": {"tier": "fast", "prompt": "two {{ steps.first.text }}", "max_tokens": 20},
        }
    }
    pid = pipelines.submit(spec, {"n": uuid.uuid4().hex})
    wait_for(lambda: emulator.calls().get("by_provider", {}).get("alpha", 0) >= 1, 20)
    label = next(name for name in stack.workers if name.startswith("alpha"))
    stack.kill_worker(label, signal.SIGKILL)
    emulator.latency(providers={"alpha": 0.0})
    stack.start_worker("alpha", name=f"alpha-after-{pid}", concurrency=4)
    stack.wait_for_workers()
    result = pipelines.wait(pid, 90)
    assert result.status == PipelineStatus.SUCCEEDED, result.error
    assert [(run.step, run.round) for run in result.steps] == [("first", 0), ("second", 0)]
    second = client.store.result(f"{pid}.second.0")
    assert isinstance(second, CompletionResult) and len(second.attempts) == 1


def test_a_catalog_pipeline_answers_through_the_openai_endpoint_and_its_routes(
    stack: LocalStack, emulator: Emulator
) -> None:
    receiver = Receiver()
    with api_server(stack) as base:
        sdk = openai.OpenAI(base_url=f"{base}/v1", api_key=KEY_A)
        completion = sdk.chat.completions.create(
            model="pipeline:triage",
            messages=[{"role": "user", "content": "A complex one: why is the sky blue?"}],
        )
        pid = completion.model_extra["pipeline_id"] if completion.model_extra else ""
        mine = httpx.get(f"{base}/v1/pipelines/{pid}", headers={"authorization": f"Bearer {KEY_A}"})
        assert mine.status_code == 200
        answer = [run for run in mine.json()["steps"] if run["step"] == "answer"]
        assert answer[0]["tier"] == "smart"
        assert completion.choices[0].message.content == answer[0]["text"]
        theirs = httpx.get(
            f"{base}/v1/pipelines/{pid}", headers={"authorization": f"Bearer {KEY_B}"}
        )
        assert theirs.status_code == 404
        events = httpx.get(
            f"{base}/v1/pipelines/{pid}/events", headers={"authorization": f"Bearer {KEY_A}"}
        ).text
        assert "event: submitted" in events and "event: finished" in events
        refused = httpx.post(
            f"{base}/v1/pipelines",
            headers={"authorization": f"Bearer {KEY_A}"},
            json={"pipeline": {"steps": {"a": {"tier": "fast", "prompt": "{{ steps.b.text }}"}}}},
        )
        assert refused.status_code == 400
        assert "steps.a.prompt: reads steps.b" in refused.json()["error"]["message"]
        hooked = httpx.post(
            f"{base}/v1/pipelines",
            headers={"authorization": f"Bearer {KEY_A}"},
            json={
                "pipeline": "triage",
                "input": {"question": "simple?"},
                "webhook_url": receiver.url,
            },
        )
        assert hooked.status_code == 202, hooked.text
        wait_for(lambda: receiver.received, 30, "the pipeline's webhook")
        sent_headers, body = receiver.received[0]
        verify_signature(SECRET_A, sent_headers[SIGNATURE_HEADER], body)
        payload = json.loads(body)
        assert payload["type"] == "pipeline.succeeded"
        assert payload["pipeline"]["pipeline_id"] == hooked.json()["id"]
    receiver.server.shutdown()
