"""Streamed pipelines end to end: the openai SDK with ``stream=True`` on
``model="pipeline:<name>"``, ``GET /v1/pipelines/{id}/stream`` and
``CascadeClient.stream_pipeline``, through real ``cascade worker`` processes streaming from the
emulator into Redis. Only the output step streams; a round sent back by its validator is told
as a reset."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from broker.client import CascadeClient
from broker.local_stack import LocalStack
from broker.pipelines.facade import Pipelines
from broker.pipelines.records import PipelineStatus
from broker.pipelines.streaming import PipelineStreamFailed
from tests.integration.support import (
    Emulator,
    api_server,
    client_for,
    fresh_emulator,
    stack_on_database,
)
from tests.integration.test_pipelines import (
    TRIAGE,
    VALIDATED,
    WORKERS,
    catalog_with_pipelines,
)

pytestmark = pytest.mark.integration

KEY = "sk-pipestream"
AUTH = {"Authorization": f"Bearer {KEY}"}
COMPLEX = "A complex one: why is the sky blue?"
# The emulator's validator names the verdict its prompt names most: this question fails it.
FAILING = {"question": "This must fail: a fail case."}
ESCALATING: dict[str, Any] = {**VALIDATED, "max_rounds": 2}


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> str:
    named = {"triage": TRIAGE, "escalating": ESCALATING}
    return catalog_with_pipelines(tmp_path_factory.mktemp("pipestream-catalog"), named)


@pytest.fixture(scope="module")
def stack(
    redis_url: str, catalog: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalStack]:
    logs, env = tmp_path_factory.mktemp("pipestream-logs"), {"CASCADE_API_KEYS": f"acme={KEY}"}
    with stack_on_database(
        redis_url, 7, config=catalog, log_dir=logs, workers=WORKERS, env=env
    ) as found:
        yield found


@pytest.fixture(scope="module")
def api(stack: LocalStack) -> Iterator[str]:
    with api_server(stack) as base:
        yield base


@pytest.fixture
def emulator(stack: LocalStack) -> Iterator[Emulator]:
    with fresh_emulator(stack) as control:
        yield control


@pytest.fixture
def client(stack: LocalStack, catalog: str) -> Iterator[CascadeClient]:
    with client_for(stack, catalog) as found:
        yield found


@pytest.fixture
def sdk(api: str, emulator: Emulator) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{api}/v1", api_key=KEY, max_retries=0, timeout=60)


def _events(api: str, pid: str, last_event_id: str | None = None) -> list[dict[str, str]]:
    """The native stream's events: {id, event, data}."""
    headers = {**AUTH, **({"Last-Event-ID": last_event_id} if last_event_id else {})}
    body = httpx.get(f"{api}/v1/pipelines/{pid}/stream", headers=headers, timeout=60).text
    events = []
    for block in body.split("\n\n"):
        lines = [line for line in block.splitlines() if line and not line.startswith(":")]
        fields = dict(line.split(": ", 1) for line in lines)
        if "data" in fields:
            events.append(fields)
    return events


def _text(chunks: list[dict[str, Any]]) -> str:
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])


def _step_text(client: CascadeClient, pid: str, step: str, round_: int) -> str:
    record = Pipelines(client).record(pid)
    [run] = [r for r in record.runs[step] if r.round == round_]
    return run.text or ""


def test_a_streamed_triage_pipeline_streams_its_answer_step_as_it_comes_through_the_sdk(
    sdk: openai.OpenAI, client: CascadeClient, emulator: Emulator
) -> None:
    emulator.latency(chunk_interval_s=0.05)
    raw = sdk.chat.completions.with_raw_response.create(
        model="pipeline:triage",
        messages=[{"role": "user", "content": COMPLEX}],
        stream=True,
        stream_options={"include_usage": True},
    )
    pid = raw.headers["x-cascade-pipeline-id"]
    pipelines = Pipelines(client)
    chunks, ended_at_first_token = [], None
    for chunk in raw.parse():
        if ended_at_first_token is None and chunk.choices and chunk.choices[0].delta.content:
            ended_at_first_token = pipelines.record(pid).result is not None
        chunks.append(chunk)

    assert ended_at_first_token is False  # the tokens came while the pipeline still ran
    result = pipelines.wait(pid, 30)
    assert result.status == PipelineStatus.SUCCEEDED, result.error
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == result.text
    assert {c.model for c in chunks} == {"pipeline:triage"}
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
    # Only the output step was streamed; the classifier ran as an ordinary job.
    classify, answer = client.store.load(f"{pid}.classify.0"), client.store.load(f"{pid}.answer.0")
    assert classify is not None and answer is not None
    assert (classify.job.envelope.stream, answer.job.envelope.stream) == (False, True)
    assert [run.tier for run in result.steps if run.step == "answer"] == ["smart"]


def test_an_escalated_round_is_a_reset_on_the_native_stream_and_last_event_id_resumes_across_it(
    api: str, client: CascadeClient, emulator: Emulator
) -> None:
    submitted = httpx.post(
        f"{api}/v1/pipelines",
        headers=AUTH,
        json={"pipeline": ESCALATING, "input": FAILING, "stream": True},
    )
    assert submitted.status_code == 202, submitted.text
    pid = submitted.json()["id"]
    events = _events(api, pid)

    [reset] = [i for i, e in enumerate(events) if e.get("event") == "cascade.reset"]
    told = json.loads(events[reset]["data"])
    assert (told["error_class"], told["round"]) == ("PipelineRoundRejected", 1)
    assert "on tier smart" in told["message"]
    first = [json.loads(e["data"]) for e in events[:reset]]
    second = [json.loads(e["data"]) for e in events[reset + 1 : -1]]
    assert _text(first) == _step_text(client, pid, "answer", 0)
    assert _text(second) == _step_text(client, pid, "answer", 1)
    assert [e["id"].split(":")[0] for e in events[: reset + 1]] == ["0"] * reset + ["1"]
    # The validator failed both rounds: the stream ends with the pipeline's error.
    assert "all 2 rounds" in json.loads(events[-1]["data"])["error"]["message"]
    # Resumed after the reset: the second round whole, nothing of the first.
    resumed = _events(api, pid, events[reset]["id"])
    assert _text([json.loads(e["data"]) for e in resumed[:-1]]) == _text(second)
    # The validator's rounds were not streamed.
    check = client.store.load(f"{pid}.check.0")
    assert check is not None and not check.job.envelope.stream


def test_an_escalation_after_text_was_sent_ends_the_sdk_stream_with_an_error_naming_it(
    sdk: openai.OpenAI,
) -> None:
    raw = sdk.chat.completions.with_raw_response.create(
        model="pipeline:escalating",
        messages=[{"role": "user", "content": FAILING["question"]}],
        stream=True,
    )
    pid = raw.headers["x-cascade-pipeline-id"]
    with pytest.raises(openai.APIError) as caught:
        list(raw.parse())
    assert "PipelineRoundRejected" in caught.value.message
    assert f"/v1/pipelines/{pid}" in caught.value.message


def test_the_python_client_streams_a_pipeline_and_tells_each_round_sent_back(
    client: CascadeClient,
) -> None:
    pid = client.submit_pipeline(ESCALATING, FAILING, envelope={"stream": True})
    items: list[dict[str, Any]] = []
    with pytest.raises(PipelineStreamFailed) as caught:
        for item in client.stream_pipeline(pid, timeout=60):
            items.append(item)
    assert caught.value.result is not None and "all 2 rounds" in (caught.value.result.error or "")
    resets = [i for i, item in enumerate(items) if item.get("object") == "cascade.reset"]
    assert len(resets) == 1
    assert _text(items[resets[0] + 1 :]) == _step_text(client, pid, "answer", 1)
    # Resumed from a chunk's id inside the first round: the rest of it, then the reset.
    again: list[dict[str, Any]] = []
    with pytest.raises(PipelineStreamFailed):
        for item in client.stream_pipeline(pid, after=items[0]["cascade_event_id"], timeout=30):
            again.append(item)
    assert again == items[1:]


def test_cli_pipeline_submit_stream_prints_the_answer_and_says_each_restart(
    stack: LocalStack, catalog: str, client: CascadeClient
) -> None:
    printed = subprocess.run(
        [sys.executable, "-m", "broker", "pipeline", "submit", "triage", "--stream"]
        + ["--input", json.dumps({"question": COMPLEX})],
        env={**stack.env(), "CASCADE_CONFIG": catalog},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert printed.returncode == 0, printed.stderr
    pid = printed.stderr.split("pipeline ", 1)[1].split()[0]
    assert printed.stdout.strip() == _step_text(client, pid, "answer", 0).strip()
    failing = subprocess.run(
        [sys.executable, "-m", "broker", "pipeline", "submit", "escalating", "--stream"]
        + ["--input", json.dumps(FAILING)],
        env={**stack.env(), "CASCADE_CONFIG": catalog},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert failing.returncode == 1
    assert "[answer restarted: PipelineRoundRejected: step 'answer' runs again as round 1" in (
        failing.stderr
    )
    assert "refused in all 2 rounds" in failing.stderr


def test_the_native_stream_refuses_an_unstreamed_pipeline_and_a_malformed_last_event_id(
    api: str,
) -> None:
    plain = httpx.post(
        f"{api}/v1/pipelines", headers=AUTH, json={"pipeline": "triage", "input": {"question": "?"}}
    ).json()["id"]
    refused = httpx.get(f"{api}/v1/pipelines/{plain}/stream", headers=AUTH)
    assert refused.status_code == 409 and "stream: true" in refused.json()["error"]["message"]
    streamed = httpx.post(
        f"{api}/v1/pipelines",
        headers=AUTH,
        json={"pipeline": "triage", "input": {"question": "?"}, "stream": True},
    ).json()["id"]
    bad = httpx.get(
        f"{api}/v1/pipelines/{streamed}/stream", headers={**AUTH, "Last-Event-ID": "12-0"}
    )
    assert bad.status_code == 400 and "Last-Event-ID" in bad.json()["error"]["message"]


def test_an_answer_step_failing_over_mid_stream_is_a_reset_inside_its_round(
    api: str, client: CascadeClient, emulator: Emulator
) -> None:
    # Every stream from the smart tier's first model breaks after three chunks: the answer
    # step's job fails over to b2, and the classifier (not streamed) is not touched.
    emulator.faults(
        {"provider": "gamma", "model": "gamma-large-1", "kind": "cut", "after_chunks": 3}
    )
    submitted = httpx.post(
        f"{api}/v1/pipelines",
        headers=AUTH,
        json={"pipeline": "triage", "input": {"question": COMPLEX}, "stream": True},
    )
    pid = submitted.json()["id"]
    events = _events(api, pid)

    resets = [i for i, e in enumerate(events) if e.get("event") == "cascade.reset"]
    assert resets and all(e["id"].startswith("0:") for e in events[:-1])
    told = json.loads(events[resets[0]]["data"])
    assert told["error_class"] == "ProviderConnectionError"
    answer = [json.loads(e["data"]) for e in events[resets[-1] + 1 : -1]]
    assert _text(answer) == _step_text(client, pid, "answer", 0)
    assert events[-1]["data"] == "[DONE]"
    [run] = Pipelines(client).record(pid).runs["answer"]
    assert run.provider == "beta" and run.attempts > 1


def test_a_validated_answer_that_passes_streams_once_and_ends_after_the_validator(
    sdk: openai.OpenAI, client: CascadeClient
) -> None:
    raw = sdk.chat.completions.with_raw_response.create(
        model="pipeline:escalating",
        messages=[{"role": "user", "content": "Name a colour."}],
        stream=True,
    )
    pid = raw.headers["x-cascade-pipeline-id"]
    chunks = list(raw.parse())
    # The stream ended when the pipeline did: the validator had judged the answer by then.
    record = Pipelines(client).record(pid)
    assert record.result is not None and record.result.status == PipelineStatus.SUCCEEDED
    assert [run.round for run in record.runs["check"]] == [0]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == record.result.text == _step_text(client, pid, "answer", 0)
