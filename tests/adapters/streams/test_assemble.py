"""assemble (adapters/streams/assemble.py): a stream's chunks added up to its chat.completion."""

from __future__ import annotations

import json

import pytest

from adapters.base import AdapterTarget
from adapters.streams import assemble, get_stream_format
from tests.adapters.streams.helpers import feed_all
from tests.adapters.streams.samples import ANTHROPIC_TOOL, OPENAI_TEXT, sse

TARGET = AdapterTarget("openai", "https://api.openai.com/v1", "gpt-4o-mini")


def _chunk(index: int, delta: dict[str, object], finish: str | None = None) -> dict[str, object]:
    choice = {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}
    return {
        "id": "c-1",
        "object": "chat.completion.chunk",
        "created": 5,
        "model": "m",
        "choices": [choice],
    }


def test_interleaved_choices_add_up_each_to_its_own_message() -> None:
    body = sse(
        (None, _chunk(0, {"role": "assistant", "content": ""})),
        (None, _chunk(1, {"role": "assistant", "content": ""})),
        (None, _chunk(1, {"content": "Second "})),
        (None, _chunk(0, {"content": "First "})),
        (None, _chunk(0, {"content": "one."}, "stop")),
        (None, _chunk(1, {"content": "one."}, "length")),
        (None, "[DONE]"),
    )
    parser = get_stream_format("openai").parser(TARGET)
    answer = assemble(feed_all(parser, body, 3), parser.usage)
    assert [(c.index, c.message.content, c.finish_reason) for c in answer.choices] == [
        (0, "First one.", "stop"),
        (1, "Second one.", "length"),
    ]
    assert (answer.id, answer.model, answer.created) == ("c-1", "m", 5)
    assert answer.usage.total_tokens == 0  # this stream reported none


def test_a_tool_stream_adds_up_to_its_calls_and_the_text_before_them() -> None:
    target = AdapterTarget("anthropic", "https://api.anthropic.com", "claude")
    parser = get_stream_format("anthropic").parser(target)
    answer = assemble(feed_all(parser, ANTHROPIC_TOOL, 16), parser.usage)
    message = answer.choices[0].message
    assert message.content == "Okay, let's check the weather."
    assert message.tool_calls is not None
    assert json.loads(message.tool_calls[0].function.arguments) == {"location": "San Francisco, CA"}
    assert answer.usage.completion_tokens == 89


def test_the_usage_is_the_parsers() -> None:
    parser = get_stream_format("openai").parser(TARGET)
    answer = assemble(feed_all(parser, OPENAI_TEXT), parser.usage)
    assert answer.choices[0].message.content == "Hello! How can I help?"
    assert answer.usage.total_tokens == 21


def test_nothing_to_assemble_is_an_error() -> None:
    with pytest.raises(ValueError, match="no chunks"):
        assemble([], None)
