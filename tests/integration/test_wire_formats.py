"""Every wire format end to end: a real worker process calls the emulator in each provider's own
format, and a tool-using conversation started on Anthropic is carried on to Gemini and Mistral."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from broker.client import CascadeClient
from broker.jobs import CompletionResult
from broker.local_stack import LocalStack
from tests.integration.support import FAST_ENV, Emulator, client_for, fresh_emulator

pytestmark = pytest.mark.integration

CATALOG = str(Path(__file__).parents[1] / "fixtures" / "catalog_formats.yaml")
MODELS = {
    "gpt": "openai",
    "azure-gpt": "azure",
    "claude": "anthropic",
    "gemini": "google",
    "command": "cohere",
    "deepseek-chat": "deepseek",
    "mistral-large": "mistral",
    "llama-groq": "groq",
    "llama-together": "together",
    "qwen-plus": "qwen",
    "router-auto": "openrouter",
    "local-vllm": "vllm",
    "local-ollama": "ollama",
}
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
QUESTION = {"role": "user", "content": "What is the weather in Paris right now?"}


@pytest.fixture(scope="module")
def stack(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    # A database of its own: Celery's queue names are not prefixed.
    url = redis_url.rsplit("/", 1)[0] + "/5"
    logs = tmp_path_factory.mktemp("formats-logs")
    with LocalStack(config=CATALOG, redis_url=url, log_dir=logs, extra_env=FAST_ENV) as s:
        s.start_redis()
        s.start_emulator()
        s.start_worker(*MODELS.values(), name="all", concurrency=16)
        s.wait_for_workers(timeout=60)
        yield s


@pytest.fixture()
def emulator(stack: LocalStack) -> Iterator[Emulator]:
    with fresh_emulator(stack) as control:
        yield control


@pytest.fixture()
def client(stack: LocalStack) -> Iterator[CascadeClient]:
    with client_for(stack, CATALOG) as client:
        yield client


@pytest.mark.parametrize(("model", "provider"), sorted(MODELS.items()))
def test_a_job_runs_through_each_wire_format(
    client: CascadeClient, emulator: Emulator, model: str, provider: str
) -> None:
    request = {
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Name a colour."},
        ],
        "max_tokens": 64,
    }
    result = client.wait(client.submit(request, model=model), timeout=30)

    assert isinstance(result, CompletionResult), result
    assert (result.provider, result.attempts[0].target.model) == (provider, model)
    assert result.choices[0].message.content
    assert result.usage.prompt_tokens > 0 and result.usage.completion_tokens > 0
    assert emulator.calls()["by_provider"] == {provider: 1}


def _ask(client: CascadeClient, messages: list[dict[str, Any]]) -> CompletionResult:
    job = {"messages": messages, "tools": [WEATHER_TOOL], "max_tokens": 200}
    result = client.wait(client.submit(job, tier="tools"), timeout=60)
    assert isinstance(result, CompletionResult), result
    return result


def _first_turn(client: CascadeClient) -> list[dict[str, Any]]:
    """The conversation after Anthropic asked for the tool and the tool answered."""
    first = _ask(client, [QUESTION])
    assert first.provider == "anthropic"
    assert first.choices[0].finish_reason == "tool_calls"
    calls = first.choices[0].message.tool_calls
    assert calls and calls[0].function.name == "get_weather"
    assert json.loads(calls[0].function.arguments)["city"]
    return [
        QUESTION,
        {"role": "assistant", "content": None, "tool_calls": [call.model_dump() for call in calls]},
        {"role": "tool", "tool_call_id": calls[0].id, "content": '{"temp_c": 18, "sky": "clear"}'},
    ]


def test_a_tool_conversation_from_anthropic_is_rerouted_to_gemini(
    client: CascadeClient, emulator: Emulator
) -> None:
    history = _first_turn(client)
    emulator.faults({"provider": "anthropic", "model": "*", "kind": "status", "status": 529})

    answer = _ask(client, history)

    assert answer.provider == "google"
    assert answer.choices[0].finish_reason == "stop"
    assert answer.choices[0].message.content
    assert [a.target.provider for a in answer.attempts] == ["anthropic"] * 3 + ["google"]


def test_a_tool_conversation_from_anthropic_is_rerouted_to_mistral_with_its_id_format(
    client: CascadeClient, emulator: Emulator
) -> None:
    history = _first_turn(client)
    emulator.faults(
        {"provider": "anthropic", "model": "*", "kind": "status", "status": 529},
        {"provider": "google", "model": "*", "kind": "status", "status": 503},
    )

    answer = _ask(client, history)

    # The emulator answers 400 to any tool-call id Mistral would refuse, as Mistral does.
    assert answer.provider == "mistral"
    assert answer.choices[0].message.content
    assert emulator.calls()["by_status"].get("400", 0) == 0


@pytest.mark.parametrize(("model", "provider"), sorted(MODELS.items()))
def test_a_streamed_job_streams_through_each_wire_format_and_stores_the_same_answer(
    client: CascadeClient, emulator: Emulator, model: str, provider: str
) -> None:
    request = {"messages": [{"role": "user", "content": "Name a colour."}], "max_tokens": 64}
    plain = client.wait(client.submit(request, model=model), timeout=30)
    job_id = client.submit(client.build_job(request, model=model, stream=True))

    chunks = list(client.stream(job_id, timeout=30))
    streamed = client.wait(job_id, timeout=5)

    assert isinstance(streamed, CompletionResult) and isinstance(plain, CompletionResult)
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == streamed.choices[0].message.content == plain.choices[0].message.content
    assert chunks[-1]["usage"]["completion_tokens"] == streamed.usage.completion_tokens > 0
    assert streamed.provider == provider


@pytest.mark.parametrize("model", ["claude", "gemini", "command"])
def test_a_streamed_tool_call_arrives_as_openai_deltas_from_each_format(
    client: CascadeClient, emulator: Emulator, model: str
) -> None:
    request = {"messages": [QUESTION], "tools": [WEATHER_TOOL], "tool_choice": "required"}
    job_id = client.submit(client.build_job(request, model=model, stream=True))

    chunks = list(client.stream(job_id, timeout=30))

    calls = [
        call
        for c in chunks
        if c["choices"]
        for call in c["choices"][0]["delta"].get("tool_calls") or ()
    ]
    assert calls[0]["id"] and calls[0]["function"]["name"] == "get_weather"
    assert json.loads("".join(call["function"]["arguments"] for call in calls))["city"]
    finishes = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]]
    assert finishes[-1] == "tool_calls"
