"""Cohere's v2 chat stream (adapters/streams/cohere.py) on Cohere's documented events
(tests/adapters/streams/samples.py names each source)."""

from __future__ import annotations

import json

import pytest

from adapters.base import AdapterTarget
from adapters.errors import ServerError, StreamCut, StreamErrorEvent, map_stream_error
from adapters.streams import get_stream_format
from broker.jobs import CompletionRequest
from tests.adapters.streams.helpers import feed_all, join
from tests.adapters.streams.samples import COHERE_TEXT, COHERE_TOOL

TARGET = AdapterTarget("cohere", "https://api.cohere.com", "command-a-03-2025")
FORMAT = get_stream_format("cohere")


@pytest.mark.parametrize("step", [0, 1, 11])
def test_a_text_stream_gives_role_content_finish_and_usage(step: int) -> None:
    parser = FORMAT.parser(TARGET)
    chunks = feed_all(parser, COHERE_TEXT, step)
    choices, usage = join(chunks)
    assert choices[0].content == "A large language model"
    assert choices[0].finish_reason == "stop"
    assert usage is not None and (usage["prompt_tokens"], usage["completion_tokens"]) == (71, 8)
    assert parser.state == "finished"
    assert chunks[0]["id"] == "29f14a5a-11de-4cae-9800-25e4747408ea"


def test_tool_call_events_join_into_an_openai_tool_call() -> None:
    choices, _ = join(feed_all(FORMAT.parser(TARGET), COHERE_TOOL, 7))
    call = choices[0].tool_calls[0]
    assert call["id"] == "get_weather_nsz5zm3w56q3" and call["name"] == "get_weather"
    assert json.loads(call["arguments"]) == {"location": "Toronto"}
    assert choices[0].content == "I will search"  # the plan, as the unstreamed answer has it
    assert choices[0].finish_reason == "tool_calls"


def test_a_message_end_with_an_error_is_a_server_error() -> None:
    body = COHERE_TEXT.replace(b'"finish_reason": "COMPLETE"', b'"finish_reason": "ERROR"')
    with pytest.raises(StreamErrorEvent) as caught:
        feed_all(FORMAT.parser(TARGET), body)
    assert isinstance(map_stream_error(caught.value), ServerError)


def test_a_stream_cut_before_message_end_is_a_cut() -> None:
    parser = FORMAT.parser(TARGET)
    parser.feed(COHERE_TEXT[: COHERE_TEXT.index(b"event: message-end")])
    with pytest.raises(StreamCut):
        parser.close()


def test_the_stream_request_sets_stream_true() -> None:
    request = CompletionRequest.model_validate({"messages": [{"role": "user", "content": "hi"}]})
    call = FORMAT.build_stream_request(request, TARGET, "co-key")
    assert call.json["stream"] is True and call.url.endswith("/v2/chat")
