"""The emulator's provider batches, driven by the pure batch adapters (adapters/batch_api/):
completion, per-line failures, expiry with lines unfinished, cancellation and refused input,
for OpenAI, Anthropic and Gemini; the emulator's bodies checked with the official SDKs' types
(openai ``Batch``/``FileObject``, anthropic ``MessageBatch``/``MessageBatchIndividualResponse``,
google-genai ``BatchJob`` as ``batches._BatchJob_from_mldev`` reads it)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from starlette.testclient import TestClient

from adapters.anthropic import AnthropicMessagesAdapter
from adapters.base import Adapter, AdapterTarget
from adapters.batch_api.outcomes import BatchItem, LineOutcome
from adapters.errors import RateLimited
from adapters.gemini import GeminiAdapter
from adapters.openai_chat import OpenAIChatAdapter
from broker.jobs import CompletionRequest
from tests.adapters.batch_flow import KEY, run_anthropic, run_gemini, run_openai, send
from tests.routing.factories import Clock

Runner = Callable[..., list[LineOutcome]]


@dataclass(frozen=True)
class Flavour:
    name: str
    run: Runner
    target: AdapterTarget
    adapter: Adapter


FLAVOURS = [
    Flavour("openai", run_openai,
            AdapterTarget("openai", "http://testserver/openai/v1", "gpt-5.4"),
            OpenAIChatAdapter()),
    Flavour("anthropic", run_anthropic,
            AdapterTarget("anthropic", "http://testserver/anthropic", "claude-haiku-4-5"),
            AnthropicMessagesAdapter()),
    Flavour("gemini", run_gemini,
            AdapterTarget("google", "http://testserver/google", "gemini-2.5-flash"),
            GeminiAdapter()),
]



def _items(count: int) -> list[BatchItem]:
    return [
        BatchItem(f"line-{n}", CompletionRequest.model_validate(
            {"messages": [{"role": "user", "content": f"Name a colour, number {n}."}],
             "max_tokens": 50}))
        for n in range(count)
    ]


WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "The weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"]}}}


def _states(outcomes: Sequence[LineOutcome]) -> list[str]:
    return [outcome.state for outcome in outcomes]


def _sync_answer(clocked: TestClient, flavour: Flavour, item: BatchItem) -> Any:
    call = flavour.adapter.build_request(item.request, flavour.target, KEY)
    response = send(clocked, call)
    return flavour.adapter.parse_response(200, {}, response.content, flavour.target)


@pytest.mark.parametrize("flavour", FLAVOURS, ids=lambda f: f.name)
def test_a_completed_batch_answers_each_line_as_the_synchronous_call_does(
    clocked: TestClient, clock: Clock, flavour: Flavour
) -> None:
    clocked.post("/_emulator/batches", json={"completion_delay_s": 30})
    tool_use = BatchItem("line-3", CompletionRequest.model_validate({
        "messages": [{"role": "user", "content": "Weather in Paris?"}],
        "tools": [WEATHER], "tool_choice": "required", "max_tokens": 50}))
    items = [*_items(3), tool_use]
    outcomes = flavour.run(clocked, items, flavour.target, lambda: clock.advance(10))
    assert _states(outcomes) == ["succeeded"] * 4
    tool_answer = outcomes[3].answer
    assert tool_answer is not None and tool_answer.choices[0].message.tool_calls
    for item, outcome in zip(items, outcomes, strict=True):
        assert outcome.answer == _sync_answer(clocked, flavour, item)
    # each line is counted at the emulator once, under its custom_id as the job id (the
    # synchronous calls above carry no job id header)
    calls = clocked.get("/_emulator/calls").json()
    assert calls["by_job"] == {item.custom_id: 1 for item in items}
    assert calls["total"] == 8


@pytest.mark.parametrize("flavour", FLAVOURS, ids=lambda f: f.name)
def test_lines_picked_by_the_fault_rules_fail_with_the_synchronous_error_class(
    clocked: TestClient, clock: Clock, flavour: Flavour
) -> None:
    clocked.post("/_emulator/faults", json={"rules": [
        {"provider": flavour.target.provider, "kind": "rate_limit", "fraction": 0.5},
    ]})
    outcomes = flavour.run(clocked, _items(4), flavour.target, lambda: clock.advance(1))
    assert _states(outcomes) == ["errored", "succeeded"] * 2 or _states(outcomes) == [
        "succeeded", "errored"] * 2
    assert all(isinstance(o.error, RateLimited) for o in outcomes if o.state == "errored")


@pytest.mark.parametrize("flavour", FLAVOURS, ids=lambda f: f.name)
def test_an_expired_batch_keeps_its_answers_and_reports_the_unfinished_lines_expired(
    clocked: TestClient, clock: Clock, flavour: Flavour
) -> None:
    clocked.post("/_emulator/batches",
                json={"completion_delay_s": 5, "expire": True, "unfinished_fraction": 0.3})
    outcomes = flavour.run(clocked, _items(10), flavour.target, lambda: clock.advance(5))
    assert _states(outcomes) == ["succeeded"] * 7 + ["expired"] * 3
    assert clocked.get("/_emulator/calls").json()["total"] == 7


@pytest.mark.parametrize("flavour", FLAVOURS, ids=lambda f: f.name)
def test_a_cancelled_batch_keeps_what_ran_and_reports_the_rest_cancelled(
    clocked: TestClient, clock: Clock, flavour: Flavour
) -> None:
    clocked.post("/_emulator/batches", json={"completion_delay_s": 100})
    # the cancel arrives half-way: two of the four lines have run by then
    outcomes = flavour.run(clocked, _items(4), flavour.target, lambda: clock.advance(1),
                           cancel=lambda: clock.advance(50))
    assert _states(outcomes) == ["succeeded", "succeeded", "cancelled", "cancelled"]
    assert clocked.get("/_emulator/calls").json()["total"] == 2
