"""Streamed jobs end to end: the official openai SDK with ``stream=True`` against ``cascade
api``, real ``cascade worker`` processes streaming from the emulator over HTTP into Redis, and
the emulator's stream faults on the route's first target (``a1`` on provider alpha, whose
first-token and idle limits are 1 s in this module's catalog, with no retry on the same
target), so every fault is seen failing over to ``b1`` on beta."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import yaml
from openai.types.chat import ChatCompletionMessageParam

from broker.local_stack import LocalStack
from tests.adapters.emulator.helpers import WEATHER_TOOL
from tests.integration.support import (
    FIXTURE_CATALOG,
    Emulator,
    api_server,
    client_for,
    fresh_emulator,
    stack_on_database,
)

pytestmark = pytest.mark.integration

KEY = "sk-test-streams"
PROMPT = "Tell me a story about streams."
HELLO: list[ChatCompletionMessageParam] = [{"role": "user", "content": PROMPT}]
ALPHA = {"provider": "alpha", "model": "alpha-small-1"}


def _catalog(directory: Path) -> str:
    data: dict[str, Any] = yaml.safe_load(FIXTURE_CATALOG.read_text())
    alpha = data["providers"]["alpha"]
    alpha["timeouts"] = {**alpha["timeouts"], "first_token": 1, "stream_idle": 1}
    alpha["max_retries"] = 0
    path = directory / "catalog.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> str:
    return _catalog(tmp_path_factory.mktemp("stream-catalog"))


@pytest.fixture(scope="module")
def stack(
    redis_url: str, config: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalStack]:
    with stack_on_database(
        redis_url,
        2,
        config=config,
        log_dir=tmp_path_factory.mktemp("stream-logs"),
        workers={"all": ("alpha", 4)},
        env={"CASCADE_API_KEYS": f"acme={KEY}"},
    ) as found:
        found.start_worker("beta", "gamma", name="rest", concurrency=4)
        found.wait_for_workers()
        yield found


@pytest.fixture(scope="module")
def api(stack: LocalStack) -> Iterator[str]:
    with api_server(stack) as base:
        yield base


@pytest.fixture()
def emulator(stack: LocalStack) -> Iterator[Emulator]:
    with fresh_emulator(stack) as control:
        yield control


@pytest.fixture()
def sdk(api: str, emulator: Emulator) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{api}/v1", api_key=KEY, max_retries=0, timeout=30)


def _stream(sdk: openai.OpenAI, **kwargs: Any) -> tuple[str, list[Any]]:
    """The job id and every chunk of a streamed chat completion."""
    kwargs.setdefault("model", "fast")
    kwargs.setdefault("messages", HELLO)
    raw = sdk.chat.completions.with_raw_response.create(stream=True, **kwargs)
    return raw.headers["x-cascade-job-id"], list(raw.parse())


def _text(chunks: list[Any]) -> str:
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


def _job(api: str, job_id: str) -> dict[str, Any]:
    response = httpx.get(
        f"{api}/v1/jobs/{job_id}", params={"wait": 10}, headers={"Authorization": f"Bearer {KEY}"}
    )
    response.raise_for_status()
    found: dict[str, Any] = response.json()
    return found


def _events(api: str, job_id: str, last_event_id: str | None = None) -> list[dict[str, Any]]:
    """The native stream's events: {id, event, data}."""
    headers = {"Authorization": f"Bearer {KEY}"}
    if last_event_id:
        headers["Last-Event-ID"] = last_event_id
    body = httpx.get(f"{api}/v1/jobs/{job_id}/stream", headers=headers, timeout=30).text
    events = []
    for block in body.split("\n\n"):
        fields = dict(
            line.split(": ", 1) for line in block.splitlines() if line and not line.startswith(":")
        )
        if "data" in fields:
            events.append(fields)
    return events


def _answer(job: dict[str, Any]) -> str:
    text: str = job["result"]["choices"][0]["message"]["content"]
    return text


def test_sdk_stream_gives_chunks_a_usage_chunk_and_the_stored_result_says_the_same(
    sdk: openai.OpenAI, api: str
) -> None:
    job_id, chunks = _stream(sdk, stream_options={"include_usage": True})

    assert chunks[0].object == "chat.completion.chunk"
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-2].choices[0].finish_reason == "stop"
    job = _job(api, job_id)
    assert job["status"] == "succeeded"
    assert _text(chunks) == _answer(job) != ""
    assert job["result"]["usage"]["completion_tokens"] == chunks[-1].usage.completion_tokens
    assert [a["outcome"] for a in job["result"]["attempts"]] == ["success"]


def test_sdk_stream_without_include_usage_sends_no_usage_chunk(sdk: openai.OpenAI) -> None:
    _, chunks = _stream(sdk)

    assert all(chunk.choices for chunk in chunks)
    assert _text(chunks)


def test_sdk_stream_gives_tool_call_deltas_in_openai_shape(sdk: openai.OpenAI) -> None:
    _, chunks = _stream(sdk, tools=[WEATHER_TOOL], tool_choice="required")

    calls = [call for c in chunks if c.choices for call in c.choices[0].delta.tool_calls or ()]
    assert calls[0].id and calls[0].type == "function"
    assert calls[0].function.name == "get_weather"
    arguments = "".join(call.function.arguments or "" for call in calls)
    assert "city" in json.loads(arguments)
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_job_stream_replays_a_finished_job_and_resumes_after_last_event_id(
    sdk: openai.OpenAI, api: str
) -> None:
    job_id, chunks = _stream(sdk)

    events = _events(api, job_id)
    assert events[-1]["data"] == "[DONE]"
    replayed = [json.loads(e["data"]) for e in events[:-1]]
    assert [c["choices"][0]["delta"].get("content") for c in replayed if c["choices"]] == [
        c.choices[0].delta.content for c in chunks
    ]
    resumed = _events(api, job_id, last_event_id=events[2]["id"])
    assert [e["id"] for e in resumed[:-1]] == [e["id"] for e in events[3:-1]]


def test_job_stream_refuses_a_last_event_id_that_is_no_entry_id(
    sdk: openai.OpenAI, api: str
) -> None:
    job_id, _ = _stream(sdk)
    response = httpx.get(
        f"{api}/v1/jobs/{job_id}/stream",
        headers={"Authorization": f"Bearer {KEY}", "Last-Event-ID": "cascade:job:x"},
    )

    assert response.status_code == 400
    assert "Last-Event-ID" in response.json()["error"]["message"]


def test_job_stream_of_a_job_not_submitted_to_stream_is_a_409_naming_envelope_stream(
    stack: LocalStack, config: str, api: str
) -> None:
    with client_for(stack, config) as client:
        job_id = client.submit({"messages": HELLO}, tier="fast", tenant="acme")
    response = httpx.get(
        f"{api}/v1/jobs/{job_id}/stream", headers={"Authorization": f"Bearer {KEY}"}
    )

    assert response.status_code == 409
    assert "envelope.stream" in response.json()["error"]["message"]


def test_slow_first_token_fails_over_to_the_next_target_within_the_limit(
    sdk: openai.OpenAI, api: str, emulator: Emulator
) -> None:
    emulator.faults({**ALPHA, "kind": "slow_first_token", "hang_s": 5})
    started = time.monotonic()
    job_id, chunks = _stream(sdk)

    assert time.monotonic() - started < 4
    job = _job(api, job_id)
    first, second = job["result"]["attempts"]
    assert (first["target"]["model"], first["error_class"]) == ("a1", "ProviderTimeout")
    assert "first token" in first["error_message"]
    assert second["target"]["model"] == "b1" and second["outcome"] == "success"
    assert _text(chunks) == _answer(job)


def test_a_cut_before_the_first_token_fails_over_without_the_caller_seeing_it(
    sdk: openai.OpenAI, api: str, emulator: Emulator
) -> None:
    emulator.faults({**ALPHA, "kind": "cut", "after_chunks": 0})
    job_id, chunks = _stream(sdk)

    job = _job(api, job_id)
    assert [a["error_class"] for a in job["result"]["attempts"]] == [
        "ProviderConnectionError",
        None,
    ]
    assert _text(chunks) == _answer(job)
    assert all(e["data"] != "" and "cascade.reset" != e.get("event") for e in _events(api, job_id))


def test_a_reset_before_the_response_headers_fails_the_stream_over_unseen(
    sdk: openai.OpenAI, api: str, emulator: Emulator
) -> None:
    emulator.faults({**ALPHA, "kind": "reset"})
    job_id, chunks = _stream(sdk)

    job = _job(api, job_id)
    first, second = job["result"]["attempts"]
    assert (first["target"]["model"], first["error_class"]) == ("a1", "ProviderConnectionError")
    assert second["target"]["model"] == "b1" and second["outcome"] == "success"
    assert _text(chunks) == _answer(job)
    assert not any(e.get("event") == "cascade.reset" for e in _events(api, job_id))
    assert emulator.calls()["by_status"]["reset"] == 1


@pytest.mark.parametrize(
    ("rule", "error_class"),
    [
        ({"kind": "stall", "after_chunks": 3, "hang_s": 5}, "ProviderTimeout"),
        ({"kind": "cut", "after_chunks": 3}, "ProviderConnectionError"),
        ({"kind": "malformed_chunk", "after_chunks": 3}, "ServerError"),
    ],
)
def test_a_fault_after_some_text_ends_the_sdk_stream_with_an_error_and_resets_native_readers(
    sdk: openai.OpenAI, api: str, emulator: Emulator, rule: dict[str, Any], error_class: str
) -> None:
    emulator.faults({**ALPHA, **rule})
    raw = sdk.chat.completions.with_raw_response.create(model="fast", messages=HELLO, stream=True)
    job_id = raw.headers["x-cascade-job-id"]
    with pytest.raises(openai.APIError) as caught:
        list(raw.parse())

    assert error_class in caught.value.message
    assert f"/v1/jobs/{job_id}" in caught.value.message
    job = _job(api, job_id)
    assert job["status"] == "succeeded"
    failed, answered = job["result"]["attempts"]
    assert (failed["error_class"], answered["error_class"]) == (error_class, None)
    # a stall is given up at the idle limit (1 s), not after the provider's 5 s: the slot is free
    assert failed["duration_s"] < 3
    events = _events(api, job_id)
    reset = next(i for i, e in enumerate(events) if e.get("event") == "cascade.reset")
    assert json.loads(events[reset]["data"])["error_class"] == error_class
    after = [json.loads(e["data"]) for e in events[reset + 1 : -1]]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in after if c["choices"])
    assert text == _answer(job)
    assert events[-1]["data"] == "[DONE]"


def test_a_stream_without_its_terminal_event_finishes_promptly_with_usage(
    sdk: openai.OpenAI, api: str, emulator: Emulator
) -> None:
    emulator.faults({**ALPHA, "kind": "no_terminal", "hang_s": 20})
    started = time.monotonic()
    job_id, chunks = _stream(sdk, stream_options={"include_usage": True})

    assert time.monotonic() - started < 5
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens > 0
    job = _job(api, job_id)
    assert [a["target"]["model"] for a in job["result"]["attempts"]] == ["a1"]


def test_a_job_that_fails_everywhere_ends_the_sdk_stream_with_its_error(
    sdk: openai.OpenAI, emulator: Emulator
) -> None:
    emulator.faults({"kind": "status", "status": 400, "error_code": "invalid_request_error"})
    raw = sdk.chat.completions.with_raw_response.create(model="fast", messages=HELLO, stream=True)
    with pytest.raises(openai.APIError) as caught:
        list(raw.parse())

    assert caught.value.body is not None


def test_cascade_client_stream_and_cli_submit_stream_give_the_text_as_it_comes(
    stack: LocalStack, config: str, emulator: Emulator
) -> None:
    with client_for(stack, config) as client:
        job = client.build_job({"messages": HELLO}, tier="fast", stream=True)
        job_id = client.submit(job)
        chunks = list(client.stream(job_id, timeout=30))
        stored = client.wait(job_id, 10)
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == stored.choices[0].message.content  # type: ignore[union-attr]
    assert all("cascade_event_id" in chunk for chunk in chunks)

    printed = subprocess.run(
        [
            sys.executable,
            "-m",
            "broker",
            "submit",
            "--tier",
            "fast",
            "--stream",
            PROMPT,
        ],
        env={**stack.env(), "CASCADE_CONFIG": config},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout.strip() == text.strip()


def test_a_streamed_request_with_an_unknown_model_is_refused_before_any_stream(
    sdk: openai.OpenAI,
) -> None:
    with pytest.raises(openai.NotFoundError, match="unknown model 'gpt-4o'"):
        sdk.chat.completions.create(model="gpt-4o", messages=HELLO, stream=True)
