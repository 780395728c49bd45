"""Round trip over real HTTP: a batch adapter builds the input, the emulator (its own
process, ``cascade emulator``) runs the batch, the adapter reads the results back, and every
answered line equals what the synchronous call answers; a line the fault rules fail and the
lines an expiring batch leaves unfinished come back as such."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from adapters.anthropic import AnthropicMessagesAdapter
from adapters.base import Adapter, AdapterTarget
from adapters.batch_api.outcomes import BatchItem, LineOutcome
from adapters.errors import ServerError
from adapters.gemini import GeminiAdapter
from adapters.openai_chat import OpenAIChatAdapter
from broker.jobs import CompletionRequest
from broker.local_stack import LocalStack
from tests.adapters.batch_flow import KEY, run_anthropic, run_gemini, run_openai, send

pytestmark = pytest.mark.integration

FLAVOURS: dict[str, tuple[Callable[..., list[LineOutcome]], str, str, Adapter]] = {
    "openai": (run_openai, "openai/v1", "gpt-5.4", OpenAIChatAdapter()),
    "anthropic": (run_anthropic, "anthropic", "claude-haiku-4-5", AnthropicMessagesAdapter()),
    "google": (run_gemini, "google", "gemini-2.5-flash", GeminiAdapter()),
}


@pytest.fixture(scope="module")
def emulator_url() -> Iterator[str]:
    with LocalStack() as stack:
        yield stack.start_emulator()


@pytest.fixture
def http(emulator_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as client:
        client.post(f"{emulator_url}/_emulator/reset")
        client.delete(f"{emulator_url}/_emulator/batches")
        yield client


def _items(count: int) -> list[BatchItem]:
    return [
        BatchItem(f"job-{n}", CompletionRequest.model_validate({
            "messages": [{"role": "system", "content": "Be brief."},
                         {"role": "user", "content": f"Summarise item {n}."}],
            "max_tokens": 64}))
        for n in range(count)
    ]


def _tick() -> None:
    time.sleep(0.1)


@pytest.mark.parametrize("provider", list(FLAVOURS))
def test_batch_answers_equal_the_synchronous_answers_and_failures_keep_their_class(
    http: httpx.Client, emulator_url: str, provider: str
) -> None:
    run, path, model, adapter = FLAVOURS[provider]
    target = AdapterTarget(provider, f"{emulator_url}/{path}", model)
    http.post(f"{emulator_url}/_emulator/batches", json={"completion_delay_s": 0.5})
    # the third line to run fails, as a synchronous call would with a 500
    http.post(f"{emulator_url}/_emulator/faults", json={"rules": [
        {"provider": provider, "status": 500, "fraction": 1 / 3, "first_n": 3}]})
    items = _items(3)
    outcomes = run(http, items, target, _tick)
    assert [o.state for o in outcomes] == ["succeeded", "succeeded", "errored"]
    assert isinstance(outcomes[2].error, ServerError)
    http.delete(f"{emulator_url}/_emulator/faults")
    for item, outcome in zip(items[:2], outcomes[:2], strict=True):
        assert outcome.answer == _sync(http, adapter, item, target)


def _sync(http: httpx.Client, adapter: Adapter, item: BatchItem, target: AdapterTarget) -> object:
    response = send(http, adapter.build_request(item.request, target, KEY))
    return adapter.parse_response(200, {}, response.content, target)


@pytest.mark.parametrize("provider", list(FLAVOURS))
def test_an_expiring_batch_returns_its_answers_and_its_unfinished_lines_as_expired(
    http: httpx.Client, emulator_url: str, provider: str
) -> None:
    run, path, model, _ = FLAVOURS[provider]
    target = AdapterTarget(provider, f"{emulator_url}/{path}", model)
    http.post(f"{emulator_url}/_emulator/batches",
              json={"completion_delay_s": 0.3, "expire": True, "unfinished_fraction": 0.3})
    outcomes = run(http, _items(10), target, _tick)
    assert [o.state for o in outcomes] == ["succeeded"] * 7 + ["expired"] * 3
    calls = http.get(f"{emulator_url}/_emulator/calls").json()
    assert calls["total"] == 7 and set(calls["by_job"].values()) == {1}
