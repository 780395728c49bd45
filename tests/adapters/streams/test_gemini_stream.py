"""Gemini's streamGenerateContent with alt=sse (adapters/streams/gemini.py) on Google's
documented sample (tests/adapters/streams/samples.py names the source)."""

from __future__ import annotations

import pytest

from adapters.base import AdapterTarget
from adapters.errors import (
    ContentBlocked,
    Overloaded,
    ServerError,
    StreamCut,
    StreamErrorEvent,
    map_stream_error,
)
from adapters.streams import get_stream_format
from broker.jobs import CompletionRequest
from tests.adapters.streams.helpers import feed_all, join
from tests.adapters.streams.samples import GEMINI_TEXT, sse

TARGET = AdapterTarget("gemini", "https://generativelanguage.googleapis.com", "gemini-2.0-flash")
FORMAT = get_stream_format("gemini")


@pytest.mark.parametrize("step", [0, 1, 6])
def test_a_text_stream_gives_role_content_finish_and_usage(step: int) -> None:
    parser = FORMAT.parser(TARGET)
    choices, usage = join(feed_all(parser, GEMINI_TEXT, step))
    assert choices[0].content == "The sky is blue."
    assert choices[0].finish_reason == "stop"
    assert usage is not None and usage["total_tokens"] == 28
    assert parser.state == "finished"  # the finishReason chunk is Gemini's terminal event


def test_a_function_call_part_is_one_whole_tool_call_delta() -> None:
    event = {
        "candidates": [
            {
                "content": {
                    "parts": [{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}],
                    "role": "model",
                },
                "finishReason": "STOP",
                "index": 0,
            }
        ],
        "usageMetadata": {"promptTokenCount": 8, "candidatesTokenCount": 5, "totalTokenCount": 13},
        "responseId": "r1",
    }
    choices, _ = join(feed_all(FORMAT.parser(TARGET), sse((None, event))))
    call = choices[0].tool_calls[0]
    assert call["name"] == "get_weather" and call["arguments"] == '{"city": "Paris"}'
    assert call["id"].startswith("call_")
    assert choices[0].finish_reason == "tool_calls"


def test_a_stream_cut_before_the_finish_reason_is_a_cut() -> None:
    parser = FORMAT.parser(TARGET)
    parser.feed(GEMINI_TEXT[: GEMINI_TEXT.index(b"\r\n\r\n") + 4])
    with pytest.raises(StreamCut):
        parser.close()


def test_an_error_event_is_classified_as_googles_error_body() -> None:
    error = {"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}}
    with pytest.raises(StreamErrorEvent) as caught:
        FORMAT.parser(TARGET).feed(sse((None, error)))
    assert isinstance(map_stream_error(caught.value), Overloaded)


def test_a_failing_finish_reason_and_a_blocked_prompt_raise() -> None:
    failing = GEMINI_TEXT.replace(b'"STOP"', b'"MALFORMED_FUNCTION_CALL"')
    with pytest.raises(StreamErrorEvent) as caught:
        feed_all(FORMAT.parser(TARGET), failing)
    assert isinstance(map_stream_error(caught.value), ServerError)
    blocked = {"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {}}
    with pytest.raises(StreamErrorEvent) as caught:
        FORMAT.parser(TARGET).feed(sse((None, blocked)))
    assert isinstance(map_stream_error(caught.value), ContentBlocked)


def test_the_stream_request_is_stream_generate_content_with_alt_sse() -> None:
    request = CompletionRequest.model_validate({"messages": [{"role": "user", "content": "hi"}]})
    call = FORMAT.build_stream_request(request, TARGET, "key")
    assert call.url.endswith("/v1beta/models/gemini-2.0-flash:streamGenerateContent")
    assert call.params == {"alt": "sse"}
