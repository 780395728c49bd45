"""Anthropic's Messages stream (adapters/streams/anthropic.py) on the events Anthropic documents
(tests/adapters/streams/samples.py names each source)."""

from __future__ import annotations

import json

import pytest

from adapters.anthropic.request import JSON_TOOL_NAME
from adapters.base import AdapterTarget
from adapters.errors import (
    MalformedChunk,
    Overloaded,
    StreamCut,
    StreamErrorEvent,
    map_stream_error,
)
from adapters.streams import get_stream_format
from broker.jobs import CompletionRequest
from tests.adapters.streams.helpers import feed_all, join
from tests.adapters.streams.samples import (
    ANTHROPIC_OVERLOADED,
    ANTHROPIC_TEXT,
    ANTHROPIC_TOOL,
    sse,
)

TARGET = AdapterTarget("anthropic", "https://api.anthropic.com", "claude-opus-4-1")
FORMAT = get_stream_format("anthropic")


@pytest.mark.parametrize("step", [0, 1, 9])
def test_a_text_stream_gives_role_content_finish_and_usage(step: int) -> None:
    parser = FORMAT.parser(TARGET)
    chunks = feed_all(parser, ANTHROPIC_TEXT, step)
    choices, usage = join(chunks)
    assert choices[0].content == "Hello!"
    assert choices[0].finish_reason == "stop"
    assert usage is not None and (usage["prompt_tokens"], usage["completion_tokens"]) == (25, 15)
    assert parser.state == "finished"
    assert chunks[0]["id"] == "msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY"


def test_a_tool_use_block_becomes_an_openai_tool_call() -> None:
    choices, _ = join(feed_all(FORMAT.parser(TARGET), ANTHROPIC_TOOL, 4))
    assert choices[0].content == "Okay, let's check the weather."
    call = choices[0].tool_calls[0]  # OpenAI's index counts calls, not content blocks
    assert call["id"] == "toolu_01T1x1fJ34qAmk2tNTrN7Up6" and call["name"] == "get_weather"
    assert json.loads(call["arguments"]) == {"location": "San Francisco, CA"}
    assert choices[0].finish_reason == "tool_calls"


def test_the_reserved_json_tool_streams_as_content() -> None:
    body = ANTHROPIC_TOOL.replace(b'"get_weather"', json.dumps(JSON_TOOL_NAME).encode())
    choices, _ = join(feed_all(FORMAT.parser(TARGET), body))
    assert choices[0].tool_calls == {}
    assert choices[0].content.endswith('{"location": "San Francisco, CA"}')
    assert choices[0].finish_reason == "stop"


def test_an_overloaded_error_event_mid_stream_is_overloaded() -> None:
    parser = FORMAT.parser(TARGET)
    half = ANTHROPIC_TEXT[: ANTHROPIC_TEXT.index(b"event: content_block_stop")]
    parser.feed(half)
    with pytest.raises(StreamErrorEvent) as caught:
        parser.feed(sse(ANTHROPIC_OVERLOADED))
    error = map_stream_error(caught.value)
    assert isinstance(error, Overloaded) and error.status_code is None


def test_a_stream_without_message_stop_ends_complete() -> None:
    parser = FORMAT.parser(TARGET)
    body = ANTHROPIC_TEXT[: ANTHROPIC_TEXT.index(b"event: message_stop")]
    chunks = feed_all(parser, body)
    assert parser.state == "complete" and join(chunks)[1] is not None


def test_a_stream_cut_before_message_delta_is_a_cut() -> None:
    parser = FORMAT.parser(TARGET)
    parser.feed(ANTHROPIC_TEXT[: ANTHROPIC_TEXT.index(b"event: message_delta")])
    with pytest.raises(StreamCut):
        parser.close()


def test_an_event_that_is_not_json_is_malformed() -> None:
    with pytest.raises(MalformedChunk, match="line 2: the event's data is not JSON"):
        FORMAT.parser(TARGET).feed(b"event: message_start\ndata: {nope\n\n")


def test_unknown_event_types_are_skipped() -> None:
    extra = sse(("future_event", {"type": "future_event", "x": 1}))
    choices, _ = join(feed_all(FORMAT.parser(TARGET), extra + ANTHROPIC_TEXT))
    assert choices[0].content == "Hello!"


def test_the_stream_request_sets_stream_true() -> None:
    request = CompletionRequest.model_validate({"messages": [{"role": "user", "content": "hi"}]})
    call = FORMAT.build_stream_request(request, TARGET, "sk-ant")
    assert call.json["stream"] is True and call.url.endswith("/v1/messages")
