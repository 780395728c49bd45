"""A stream's caller who goes away, and a stream that breaks after some of its text reached
the caller, end to end: the official openai SDK with ``stream=True`` against ``cascade api``, a
real ``cascade worker`` streaming from the emulator over HTTP.

The catalog is the test fixture's plus an Anthropic provider, ``claude``: ``c1`` continues a
trailing assistant message (``prefill: true``; Anthropic's "Prefill Claude's response",
https://docs.claude.com/en/docs/prefill-claudes-response), ``c2`` does not (Opus 4.6 and later
refuse a prefill with a 400, "This model does not support assistant message prefill"). alpha
(``a1``, first on every tier here) has first-token and idle limits of 1 s and no retry, so a
fault on it fails over at once.
"""

from __future__ import annotations

import json
import math
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
from tests.integration.support import (
    FIXTURE_CATALOG,
    Emulator,
    api_server,
    client_for,
    fresh_emulator,
    stack_on_database,
    wait_for,
)

pytestmark = pytest.mark.integration

KEY = "sk-test-continuation"
HELLO: list[ChatCompletionMessageParam] = [
    {"role": "user", "content": "Tell me a story about rivers."}
]
ALPHA = {"provider": "alpha", "model": "alpha-small-1"}
REFUSAL = (
    "This model does not support assistant message prefill. The conversation must end with a"
    " user message."
)


def _catalog(directory: Path) -> str:
    data: dict[str, Any] = yaml.safe_load(FIXTURE_CATALOG.read_text())
    alpha = data["providers"]["alpha"]
    alpha["timeouts"] = {**alpha["timeouts"], "first_token": 1, "stream_idle": 1}
    alpha["max_retries"] = 0
    data["providers"]["claude"] = {
        "wire_format": "anthropic",
        "base_url": "https://api.anthropic.com",
        "api_key_env": "CLAUDE_API_KEY",
        "max_retries": 0,
    }
    claude = {"provider": "claude", "context_window": 200000, "max_output_tokens": 4096}
    price = {"input": 1.0, "output": 5.0}
    data["models"] += [
        {**claude, "name": "c1", "model_id": "claude-haiku-4-5", "price": price, "prefill": True},
        {**claude, "name": "c2", "model_id": "claude-opus-4-6", "price": price},
    ]
    data["tiers"]["prefill"] = {"models": ["a1", "c1"]}
    data["tiers"]["restart"] = {"models": ["a1", "c2"]}
    data["tiers"]["slow"] = {"models": ["a1"]}
    path = directory / "catalog.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> str:
    return _catalog(tmp_path_factory.mktemp("continuation-catalog"))


@pytest.fixture(scope="module")
def stack(
    redis_url: str, config: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalStack]:
    with stack_on_database(
        redis_url,
        12,
        config=config,
        log_dir=tmp_path_factory.mktemp("continuation-logs"),
        env={"CASCADE_API_KEYS": f"acme={KEY}"},
    ) as found:
        found.start_worker("alpha", "beta", "claude", name="all", concurrency=4)
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


def _job(api: str, job_id: str, wait: float = 10) -> dict[str, Any]:
    response = httpx.get(
        f"{api}/v1/jobs/{job_id}",
        params={"wait": wait},
        headers={"Authorization": f"Bearer {KEY}"},
        timeout=wait + 5,
    )
    response.raise_for_status()
    found: dict[str, Any] = response.json()
    return found


def _events(api: str, job_id: str) -> list[dict[str, str]]:
    body = httpx.get(
        f"{api}/v1/jobs/{job_id}/stream", headers={"Authorization": f"Bearer {KEY}"}, timeout=30
    ).text
    events = []
    for block in body.split("\n\n"):
        fields = dict(
            line.split(": ", 1) for line in block.splitlines() if line and not line.startswith(":")
        )
        if "data" in fields:
            events.append(fields)
    return events


def _text(chunks: list[Any]) -> str:
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


# --- a caller who disconnects ------------------------------------------------------------


def _read_some_then_close(sdk: openai.OpenAI, **kwargs: Any) -> tuple[str, str, float]:
    """Open a stream of tier ``slow``, read three text chunks, close it: the job id, the
    text read, and when it was closed."""
    with sdk.chat.completions.create(model="slow", messages=HELLO, stream=True, **kwargs) as s:
        job_id = s.response.headers["x-cascade-job-id"]
        texts: list[str] = []
        for chunk in s:
            if chunk.choices and chunk.choices[0].delta.content:
                texts.append(chunk.choices[0].delta.content)
            if len(texts) == 3:
                break
    return job_id, "".join(texts), time.monotonic()


def test_a_caller_who_disconnects_cancels_the_provider_call_and_the_job_counts_what_streamed(
    sdk: openai.OpenAI, api: str, emulator: Emulator
) -> None:
    emulator.latency(chunk_interval_s=0.3)  # about 5 s of stream
    job_id, read, closed_at = _read_some_then_close(sdk)

    job = _job(api, job_id)
    assert time.monotonic() - closed_at < 3
    assert job["status"] == "failed"
    assert job["result"]["error_class"] == "Cancelled"
    assert "disconnected" in job["result"]["error_message"]
    (attempt,) = job["result"]["attempts"]
    assert (attempt["target"]["model"], attempt["error_class"]) == ("a1", "Cancelled")
    # billed for what streamed: the prompt and at least the text the caller read
    assert attempt["usage"]["completion_tokens"] >= math.ceil(len(read) / 4)
    assert attempt["usage"]["prompt_tokens"] > 0 and attempt["cost_usd"] > 0
    # the emulator saw its connection closed well before the stream's end
    wait_for(lambda: job_id in emulator.calls()["closed_by_client"], 5, "the emulator's view")
    closed = emulator.calls()["closed_by_client"][job_id]
    assert closed["sent"] < closed["planned"] - 3


def test_a_caller_who_asked_to_continue_leaves_a_job_that_runs_to_its_end(
    sdk: openai.OpenAI, api: str, emulator: Emulator
) -> None:
    emulator.latency(chunk_interval_s=0.1)
    headers = {"X-Cascade-On-Disconnect": "continue"}
    job_id, read, _ = _read_some_then_close(sdk, extra_headers=headers)

    job = _job(api, job_id, wait=20)
    assert job["status"] == "succeeded"
    answer = job["result"]["choices"][0]["message"]["content"]
    assert answer.startswith(read) and len(answer) > len(read)
    events = _events(api, job_id)
    assert events[-1]["data"] == "[DONE]"
    replayed = [json.loads(e["data"]) for e in events[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in replayed if c["choices"])
    assert text == answer
    # the worker read it all (it lets go of the body once the answer is whole: at most the
    # terminal event goes unread)
    closed = emulator.calls()["closed_by_client"].get(job_id)
    assert closed is None or closed["sent"] >= closed["planned"] - 1


def test_an_on_disconnect_that_is_neither_cancel_nor_continue_is_a_400_naming_it(
    sdk: openai.OpenAI,
) -> None:
    with pytest.raises(openai.BadRequestError, match="metadata.on_disconnect"):
        sdk.chat.completions.create(
            model="slow", messages=HELLO, stream=True, metadata={"on_disconnect": "later"}
        )


def test_a_reader_of_the_jobs_stream_who_disconnects_cancels_nothing(
    stack: LocalStack, config: str, api: str, emulator: Emulator
) -> None:
    emulator.latency(chunk_interval_s=0.1)
    with client_for(stack, config) as client:
        job_id = client.submit(
            client.build_job({"messages": HELLO}, tier="slow", tenant="acme", stream=True)
        )
    url = f"{api}/v1/jobs/{job_id}/stream"
    with httpx.stream("GET", url, headers={"Authorization": f"Bearer {KEY}"}) as response:
        lines = response.iter_lines()
        while not next(lines).startswith("data: {"):
            pass

    assert _job(api, job_id, wait=20)["status"] == "succeeded"


# --- a stream that breaks after some text reached the caller -----------------------------


def test_a_cut_after_text_goes_on_from_it_on_a_prefill_fallback_with_nothing_repeated(
    sdk: openai.OpenAI, api: str, emulator: Emulator
) -> None:
    emulator.faults({**ALPHA, "kind": "cut", "after_chunks": 4})
    raw = sdk.chat.completions.with_raw_response.create(
        model="prefill", messages=HELLO, stream=True, stream_options={"include_usage": True}
    )
    job_id, chunks = raw.headers["x-cascade-job-id"], list(raw.parse())

    job = _job(api, job_id)
    assert job["status"] == "succeeded"
    failed, answered = job["result"]["attempts"]
    assert (failed["target"]["model"], failed["error_class"]) == ("a1", "ProviderConnectionError")
    assert (answered["target"]["model"], answered["outcome"]) == ("c1", "success")
    stored = job["result"]["choices"][0]["message"]["content"]
    assert _text(chunks) == stored  # the caller read one answer, nothing twice
    assert stored.startswith("[alpha/alpha-small-1] ")  # begun by alpha
    assert "[claude/" not in stored and len(stored.split()) == 13  # continued, not restarted
    assert [c.choices[0].delta.role for c in chunks if c.choices].count("assistant") == 1
    assert not any(e.get("event") == "cascade.reset" for e in _events(api, job_id))
    # usage: the continuation's as reported, and the broken call's text estimated
    usage = job["result"]["usage"]
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == usage["completion_tokens"]
    assert usage["completion_tokens"] >= math.ceil(len(stored) / 4)


def test_a_fallback_that_refuses_the_prefill_ends_the_job_with_the_original_stream_error(
    sdk: openai.OpenAI, api: str, emulator: Emulator
) -> None:
    emulator.faults(
        {**ALPHA, "kind": "cut", "after_chunks": 4},
        {
            "provider": "claude",
            "status": 400,
            "error_code": "invalid_request_error",
            "message": REFUSAL,
        },
    )
    raw = sdk.chat.completions.with_raw_response.create(
        model="prefill", messages=HELLO, stream=True
    )
    job_id = raw.headers["x-cascade-job-id"]
    with pytest.raises(openai.APIError) as caught:
        list(raw.parse())

    job = _job(api, job_id)
    broken, refused = job["result"]["attempts"]
    assert job["status"] == "failed"
    # the job's error is the cut's (the fallback's refusal only follows it)
    assert job["result"]["error_class"] == broken["error_class"] == "ProviderConnectionError"
    assert job["result"]["error_message"].startswith(broken["error_message"])
    assert REFUSAL in job["result"]["error_message"]
    assert caught.value.message.startswith(broken["error_message"])
    assert (refused["target"]["model"], refused["error_class"]) == ("c1", "PrefillRefused")


def test_a_cut_after_text_restarts_visibly_on_a_fallback_without_prefill(
    sdk: openai.OpenAI, api: str, emulator: Emulator
) -> None:
    emulator.faults({**ALPHA, "kind": "cut", "after_chunks": 4})
    raw = sdk.chat.completions.with_raw_response.create(
        model="restart", messages=HELLO, stream=True
    )
    job_id = raw.headers["x-cascade-job-id"]
    with pytest.raises(openai.APIError, match="ProviderConnectionError"):
        list(raw.parse())

    job = _job(api, job_id)
    assert [a["target"]["model"] for a in job["result"]["attempts"]] == ["a1", "c2"]
    events = _events(api, job_id)
    reset = next(i for i, e in enumerate(events) if e.get("event") == "cascade.reset")
    assert json.loads(events[reset]["data"])["error_class"] == "ProviderConnectionError"
    after = [json.loads(e["data"]) for e in events[reset + 1 : -1]]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in after if c["choices"])
    assert text == job["result"]["choices"][0]["message"]["content"]
    assert text.startswith("[claude/claude-opus-4-6] ")
