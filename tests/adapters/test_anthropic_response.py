"""AnthropicMessagesAdapter.parse_response: Messages as chat.completions.

Bodies follow the examples of https://docs.claude.com/en/api/messages and the SDK's
``types/message.py`` / ``types/usage.py``; the stop_reason values are the SDK's StopReason.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from adapters.anthropic import AnthropicMessagesAdapter
from adapters.anthropic.request import JSON_TOOL_NAME
from adapters.anthropic.response import FINISH_REASON_TABLE
from adapters.base import AdapterTarget, ParsedResponse
from adapters.errors import Overloaded, ServerError
from adapters.finish_reasons import FINISH_REASONS

TARGET = AdapterTarget("anthropic", "https://api.anthropic.com", "claude-sonnet-4-5")


def message(**overrides: Any) -> dict[str, Any]:
    """The docs' example Message ("Hi! My name is Claude.")."""
    body: dict[str, Any] = {
        "id": "msg_013Zva2CMHLNnXjNJJKqJ2EF",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5-20250929",
        "content": [{"type": "text", "text": "Hi! My name is Claude."}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 2095, "output_tokens": 503},
    }
    body.update(overrides)
    return body


def parse(body: dict[str, Any], headers: dict[str, str] | None = None) -> ParsedResponse:
    return AnthropicMessagesAdapter().parse_response(
        200, headers or {}, json.dumps(body).encode(), TARGET
    )


def test_text_message_becomes_a_stop_choice_with_its_text() -> None:
    parsed = parse(message())
    assert parsed.id == "msg_013Zva2CMHLNnXjNJJKqJ2EF"
    assert parsed.model == "claude-sonnet-4-5-20250929"
    assert len(parsed.choices) == 1
    choice = parsed.choices[0]
    assert choice.message.content == "Hi! My name is Claude."
    assert choice.message.tool_calls is None
    assert choice.finish_reason == "stop"


def test_several_text_blocks_are_concatenated() -> None:
    parsed = parse(message(content=[{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]))
    assert parsed.choices[0].message.content == "ab"


def test_tool_use_blocks_become_tool_calls_with_json_string_arguments() -> None:
    """The docs' get_weather example: a text block then a tool_use block, stop_reason tool_use."""
    parsed = parse(
        message(
            content=[
                {"type": "text", "text": "I'll check the weather."},
                {
                    "type": "tool_use",
                    "id": "toolu_01A09q90qw90lq917835lq9",
                    "name": "get_weather",
                    "input": {"location": "San Francisco, CA", "unit": "celsius"},
                },
            ],
            stop_reason="tool_use",
        )
    )
    choice = parsed.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content == "I'll check the weather."
    assert choice.message.tool_calls is not None
    call = choice.message.tool_calls[0]
    assert call.id == "toolu_01A09q90qw90lq917835lq9"
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {
        "location": "San Francisco, CA",
        "unit": "celsius",
    }


def test_thinking_blocks_are_left_out_of_content() -> None:
    """Extended thinking answers carry a thinking block (with signature) before the text."""
    parsed = parse(
        message(
            content=[
                {"type": "thinking", "thinking": "Let me think...", "signature": "EqQBCgIYAhIM"},
                {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix"},
                {"type": "text", "text": "42"},
            ]
        )
    )
    assert parsed.choices[0].message.content == "42"


def test_the_reserved_json_tool_call_comes_back_as_content() -> None:
    parsed = parse(
        message(
            content=[
                {"type": "tool_use", "id": "toolu_1", "name": JSON_TOOL_NAME, "input": {"a": 1}}
            ],
            stop_reason="tool_use",
        )
    )
    choice = parsed.choices[0]
    assert json.loads(choice.message.content or "") == {"a": 1}
    assert choice.message.tool_calls is None
    assert choice.finish_reason == "stop"


@pytest.mark.parametrize(
    ("stop_reason", "expected"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
        ("pause_turn", "length"),
        ("model_context_window_exceeded", "length"),
    ],
)
def test_every_documented_stop_reason_has_a_finish_reason(stop_reason: str, expected: str) -> None:
    """StopReason literal of anthropic-sdk-python types/stop_reason.py."""
    content = [{"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}]
    body = message(stop_reason=stop_reason)
    if stop_reason == "tool_use":
        body["content"] = content
    assert parse(body).choices[0].finish_reason == expected


def test_the_finish_reason_table_covers_the_sdk_stop_reasons() -> None:
    """Fails when the installed SDK documents a stop_reason the table lacks."""
    stop_reason = pytest.importorskip("anthropic.types.stop_reason")
    from typing import get_args

    assert set(get_args(stop_reason.StopReason)) <= set(FINISH_REASON_TABLE)
    assert set(FINISH_REASON_TABLE.values()) <= FINISH_REASONS


def test_unknown_stop_reason_is_stop_and_never_crashes() -> None:
    assert parse(message(stop_reason="something_new")).choices[0].finish_reason == "stop"


def test_usage_prompt_tokens_include_cache_reads_and_writes() -> None:
    """input_tokens exclude cached tokens (Usage docstring); OpenAI's prompt_tokens include them."""
    parsed = parse(
        message(
            usage={
                "input_tokens": 50,
                "cache_creation_input_tokens": 200,
                "cache_read_input_tokens": 1000,
                "output_tokens": 30,
                "output_tokens_details": {"thinking_tokens": 12},
            }
        )
    )
    usage = parsed.usage
    assert usage.prompt_tokens == 1250
    assert usage.cached_tokens == 1000
    assert usage.completion_tokens == 30
    assert usage.total_tokens == 1280
    assert usage.reasoning_tokens == 12


def test_null_cache_counts_count_as_zero() -> None:
    parsed = parse(
        message(
            usage={
                "input_tokens": 10,
                "output_tokens": 5,
                "cache_creation_input_tokens": None,
                "cache_read_input_tokens": None,
            }
        )
    )
    assert (parsed.usage.prompt_tokens, parsed.usage.cached_tokens) == (10, 0)


def test_created_comes_from_the_date_header() -> None:
    parsed = parse(message(), {"date": "Wed, 21 Oct 2015 07:28:00 GMT"})
    assert parsed.created == 1445412480
    assert parse(message()).created == 0


def test_an_error_body_with_a_2xx_status_is_classified() -> None:
    body = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    with pytest.raises(Overloaded):
        parse(body)


@pytest.mark.parametrize("raw", [b"not json", b"[]", b'{"type": "message"}'])
def test_an_unreadable_answer_is_a_server_error(raw: bytes) -> None:
    with pytest.raises(ServerError):
        AnthropicMessagesAdapter().parse_response(200, {}, raw, TARGET)


def test_a_tool_use_block_without_id_is_a_server_error() -> None:
    with pytest.raises(ServerError):
        parse(message(content=[{"type": "tool_use", "name": "f", "input": {}}]))
