"""Prompt-token and cost estimates, and cost from reported usage."""

from __future__ import annotations

import math

import pytest

from broker.jobs import CompletionRequest, Usage
from routing.estimate import (
    DEFAULT_OUTPUT_ALLOWANCE,
    REPLY_PRIMING_TOKENS,
    TOKENS_PER_MESSAGE,
    actual_cost_usd,
    estimate_cost_usd,
    estimate_prompt_tokens,
    output_allowance,
)
from tests.routing.factories import catalog


def _request(**body: object) -> CompletionRequest:
    return CompletionRequest.model_validate(body)


def _user(content: object) -> dict[str, object]:
    return {"role": "user", "content": content}


def test_text_counts_four_characters_a_token_plus_message_and_reply_overhead() -> None:
    request = _request(messages=[_user("x" * 400)])
    assert estimate_prompt_tokens(request) == 100 + TOKENS_PER_MESSAGE + REPLY_PRIMING_TOKENS


def test_partial_tokens_round_up() -> None:
    request = _request(messages=[_user("abcde")])
    assert estimate_prompt_tokens(request) == 2 + TOKENS_PER_MESSAGE + REPLY_PRIMING_TOKENS


def test_each_message_adds_its_overhead_and_a_name_one_more_token() -> None:
    one = estimate_prompt_tokens(_request(messages=[_user("")]))
    two = estimate_prompt_tokens(
        _request(messages=[{"role": "system", "content": ""}, _user("")])
    )
    named = estimate_prompt_tokens(
        _request(messages=[{"role": "user", "content": "", "name": "abcd"}])
    )
    assert two - one == TOKENS_PER_MESSAGE
    assert named - one == 1 + 1  # the name's text (4 chars) and its own token


def test_an_image_costs_765_tokens_at_high_or_auto_detail_and_85_at_low() -> None:
    """OpenAI vision guide, "Calculating costs": 1024x1024 at high detail is 85 + 4 * 170 = 765;
    low detail is a flat 85."""
    def with_image(detail: str | None) -> int:
        image: dict[str, object] = {"url": "https://img.example/a.png"}
        if detail is not None:
            image["detail"] = detail
        part = {"type": "image_url", "image_url": image}
        return estimate_prompt_tokens(_request(messages=[_user([part])]))

    base = estimate_prompt_tokens(_request(messages=[_user([])]))
    assert with_image("high") - base == 765
    assert with_image(None) - base == 765
    assert with_image("auto") - base == 765
    assert with_image("low") - base == 85


def test_tool_definitions_and_tool_call_arguments_count_as_prompt_text() -> None:
    plain = estimate_prompt_tokens(_request(messages=[_user("hi")]))
    tool = {
        "type": "function",
        "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}},
    }
    with_tools = estimate_prompt_tokens(_request(messages=[_user("hi")], tools=[tool]))
    call = {"id": "c1", "function": {"name": "lookup", "arguments": '{"q": "' + "y" * 80 + '"}'}}
    with_call = estimate_prompt_tokens(
        _request(
            messages=[
                _user("hi"),
                {"role": "assistant", "tool_calls": [call]},
                {"role": "tool", "tool_call_id": "c1", "content": "ok"},
            ]
        )
    )
    assert with_tools > plain
    assert with_call - plain >= 80 // 4 + 2 * TOKENS_PER_MESSAGE


def test_a_json_schema_counts_as_prompt_text() -> None:
    plain = estimate_prompt_tokens(_request(messages=[_user("hi")]))
    fmt = {
        "type": "json_schema",
        "json_schema": {"name": "answer", "schema": {"type": "object", "description": "z" * 200}},
    }
    assert estimate_prompt_tokens(_request(messages=[_user("hi")], response_format=fmt)) >= (
        plain + 50
    )


def test_the_output_allowance_is_the_requests_limit_when_it_sets_one() -> None:
    a1 = catalog().model("a1")
    assert output_allowance(_request(messages=[_user("x")], max_tokens=300), a1) == 300
    assert output_allowance(_request(messages=[_user("x")], max_completion_tokens=77), a1) == 77


def test_without_a_limit_the_output_allowance_is_at_most_1024() -> None:
    loaded = catalog()
    request = _request(messages=[_user("x")])
    assert output_allowance(request, loaded.model("a1")) == DEFAULT_OUTPUT_ALLOWANCE == 1024
    small = loaded.model("a1").model_copy(update={"max_output_tokens": 256})
    assert output_allowance(request, small) == 256
    uncapped = loaded.model("a1").model_copy(update={"max_output_tokens": None})
    assert output_allowance(request, uncapped) == 1024


def test_estimated_cost_is_tokens_times_price_per_million() -> None:
    g1 = catalog().model("g1")  # 3.00 in, 15.00 out
    assert estimate_cost_usd(g1, 1_000_000, 0) == pytest.approx(3.0)
    assert estimate_cost_usd(g1, 2000, 1000) == pytest.approx(0.006 + 0.015)
    assert estimate_cost_usd(g1, 0, 0) == 0


def test_actual_cost_bills_prompt_and_completion_tokens_and_cached_at_the_input_price() -> None:
    b2 = catalog().model("b2")  # 2.00 in, 8.00 out
    usage = Usage(prompt_tokens=10_000, completion_tokens=500, total_tokens=10_500,
                  cached_tokens=4_000, reasoning_tokens=200)
    # cached tokens are part of prompt_tokens and billed like them; reasoning is in completion
    assert actual_cost_usd(b2, usage) == pytest.approx(10_000 * 2.0 / 1e6 + 500 * 8.0 / 1e6)
    assert math.isclose(actual_cost_usd(b2, Usage()), 0.0)
