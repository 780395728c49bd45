"""Plain calls fail over as fast as a good client does (issue 15 item 4), through the real
openai SDK, ``cascade api``, a real worker per provider and the emulator's faults.

The catalog is the test fixture's with alpha on the shipped timeouts and retry budget (no
``timeouts`` and no ``max_retries`` of its own) and the shipped backoff; only alpha's circuit is
scaled down (open for 2 s), so that "down for a minute" plays out in seconds. Tier ``fast`` is
a1 (alpha, 16k window), then b1 (beta, 32k), then tier ``smart``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from broker.local_stack import LocalStack
from tests.integration.sdk_stack import calls_to, catalog_on_shipped_timeouts, sdk_stack
from tests.integration.support import Emulator, api_server, fresh_emulator

pytestmark = pytest.mark.integration

KEY = "sk-test-failover"
OPEN_S = 2.0
CIRCUIT = {"window_s": 10, "failure_rate": 0.5, "min_calls": 3, "open_s": OPEN_S}
HELLO = [{"role": "user", "content": "Say hello."}]


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> str:
    return catalog_on_shipped_timeouts(tmp_path_factory.mktemp("failover"), circuit=CIRCUIT)


@pytest.fixture(scope="module")
def stack(
    catalog: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalStack]:
    logs = tmp_path_factory.mktemp("failover-logs")
    with sdk_stack(catalog, redis_url, 14, logs, KEY) as stack:
        yield stack


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
    return openai.OpenAI(
        base_url=f"{api}/v1",
        api_key=KEY,
        max_retries=0,
        timeout=60,
        default_headers={"X-Cascade-Timeout": "50"},
    )


def _ask(sdk: openai.OpenAI, **kwargs: Any) -> dict[str, Any]:
    kwargs.setdefault("model", "fast")
    kwargs.setdefault("messages", HELLO)
    answer: dict[str, Any] = sdk.chat.completions.create(**kwargs).model_dump()
    return answer


def _tries(answer: dict[str, Any]) -> list[tuple[str, str]]:
    return [(a["target"]["model"], a["outcome"]) for a in answer["attempts"]]


def test_a_provider_that_never_answers_is_failed_over_within_15_seconds(
    sdk: openai.OpenAI, emulator: Emulator
) -> None:
    emulator.faults({"provider": "alpha", "kind": "timeout", "hang_s": 60})
    start = time.monotonic()
    answer = _ask(sdk)
    took = time.monotonic() - start

    assert took < 15, f"the fallback answered after {took:.1f}s"
    assert _tries(answer) == [("a1", "retry"), ("a1", "reroute"), ("b1", "success")]
    # the answer is the fallback's: its model, its usage, and only it is billed
    assert answer["model"] == "beta-fast-1" and answer["provider"] == "beta"
    success = answer["attempts"][-1]
    counts = ("prompt_tokens", "completion_tokens", "total_tokens")
    assert [answer["usage"][c] for c in counts] == [success["usage"][c] for c in counts]
    assert answer["cost_usd"] == success["cost_usd"] > 0
    assert all(a["cost_usd"] == 0 and a["usage"] is None for a in answer["attempts"][:-1])


def test_a_500_once_is_retried_once_on_the_same_target(
    sdk: openai.OpenAI, emulator: Emulator
) -> None:
    emulator.faults({"provider": "alpha", "status": 500, "first_n": 1})
    answer = _ask(sdk)
    assert _tries(answer) == [("a1", "retry"), ("a1", "success")]
    assert answer["model"] == "alpha-small-1"


def test_a_persistent_503_fails_over_within_the_retry_budget(
    sdk: openai.OpenAI, emulator: Emulator
) -> None:
    emulator.faults({"provider": "alpha", "status": 503})
    answer = _ask(sdk)
    assert _tries(answer) == [
        ("a1", "retry"),
        ("a1", "retry"),
        ("a1", "reroute"),
        ("b1", "success"),
    ]


def test_a_429_with_retry_after_is_waited_for_on_the_same_target(
    sdk: openai.OpenAI, emulator: Emulator
) -> None:
    emulator.faults({"provider": "alpha", "kind": "rate_limit", "retry_after": 1.5, "first_n": 1})
    start = time.monotonic()
    answer = _ask(sdk)
    assert time.monotonic() - start >= 1.5
    assert _tries(answer) == [("a1", "retry"), ("a1", "success")]


def test_a_429_without_retry_after_backs_off_then_fails_over_without_hammering(
    sdk: openai.OpenAI, emulator: Emulator
) -> None:
    emulator.faults({"provider": "alpha", "status": 429})
    answer = _ask(sdk)
    assert _tries(answer)[-1] == ("b1", "success")
    assert calls_to(emulator, "alpha") == 3  # the first call and max_retries, no more


def test_a_reset_mid_answer_is_retried(sdk: openai.OpenAI, emulator: Emulator) -> None:
    emulator.faults({"provider": "alpha", "kind": "disconnect", "first_n": 1})
    answer = _ask(sdk)
    assert _tries(answer) == [("a1", "retry"), ("a1", "success")]


def test_a_reset_before_the_response_headers_is_retried_once_then_fails_over(
    sdk: openai.OpenAI, emulator: Emulator
) -> None:
    # The connection is accepted and reset (RST) before any byte of an answer.
    emulator.faults({"provider": "alpha", "kind": "reset", "first_n": 1})
    answer = _ask(sdk)
    assert _tries(answer) == [("a1", "retry"), ("a1", "success")]
    assert answer["attempts"][0]["error_class"] == "ProviderConnectionError"
    assert "reset" in answer["attempts"][0]["error_message"].lower()

    emulator.faults({"provider": "alpha", "kind": "reset"})
    answer = _ask(sdk)
    tries = _tries(answer)
    # retried within the budget (or passed over once alpha's circuit opened), then b1
    assert tries[0] == ("a1", "retry") and tries[-1] == ("b1", "success")
    assert {outcome for model, outcome in tries[1:-1]} <= {"retry", "reroute", "skipped"}
    assert all(model == "a1" for model, _ in tries[:-1])


def test_context_length_exceeded_reroutes_to_a_larger_window_without_a_retry(
    sdk: openai.OpenAI, emulator: Emulator
) -> None:
    emulator.faults({"provider": "alpha", "status": 400, "error_code": "context_length_exceeded"})
    answer = _ask(sdk)
    assert _tries(answer) == [("a1", "reroute"), ("b1", "success")]


def test_a_content_filter_refusal_is_a_400_with_the_provider_s_reason_and_no_retry(
    sdk: openai.OpenAI, emulator: Emulator
) -> None:
    reason = "Your request was rejected as a result of our safety system."
    emulator.faults(
        {
            "provider": "alpha",
            "status": 400,
            "error_code": "content_policy_violation",
            "message": reason,
        }
    )
    with pytest.raises(openai.BadRequestError) as refused:
        _ask(sdk)
    assert refused.value.status_code == 400
    assert reason in refused.value.message
    assert calls_to(emulator, "alpha") == 1
    assert calls_to(emulator, "beta") == 0


def test_a_primary_down_is_served_by_the_fallback_and_gets_its_traffic_back_on_recovery(
    sdk: openai.OpenAI, emulator: Emulator
) -> None:
    down_s = 5 * OPEN_S  # "a minute" scaled to the circuit's open_s
    emulator.faults({"provider": "alpha", "status": 503})
    start = time.monotonic()
    recovered_at: float | None = None
    served: list[tuple[float, str]] = []
    for _ in range(20):
        if recovered_at is None and time.monotonic() - start >= down_s:
            emulator.reset()
            recovered_at = time.monotonic()
        answer = _ask(sdk)  # raises if any request is not served
        served.append((time.monotonic(), answer["provider"]))
        time.sleep(0.6)

    assert recovered_at is not None, "the twenty requests ended before the primary recovered"
    during = [provider for at, provider in served if at < recovered_at]
    assert set(during) == {"beta"}
    back = [at for at, provider in served if at > recovered_at and provider == "alpha"]
    assert back and back[0] - recovered_at < OPEN_S + 3
    after_back = [provider for at, provider in served if back and at >= back[0]]
    assert set(after_back) == {"alpha"}
