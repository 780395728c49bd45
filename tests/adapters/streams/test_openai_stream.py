"""OpenAI's chat-completions stream (adapters/streams/openai.py) on OpenAI's documented samples
(tests/adapters/streams/samples.py names each source), fed whole and a byte at a time."""

from __future__ import annotations

import json

import pytest

from adapters.base import AdapterTarget
from adapters.errors import (
    MalformedChunk,
    ServerError,
    StreamCut,
    StreamErrorEvent,
    map_stream_error,
)
from adapters.streams import get_stream_format
from broker.jobs import CompletionRequest
from tests.adapters.streams.helpers import feed_all, join
from tests.adapters.streams.samples import OPENAI_ERROR_LINE, OPENAI_TEXT, OPENAI_TOOL, sse

TARGET = AdapterTarget("openai", "https://api.openai.com/v1", "gpt-4o-mini")
REQUEST = CompletionRequest.model_validate({"messages": [{"role": "user", "content": "hi"}]})


def _parser(wire_format: str = "openai"):  # type: ignore[no-untyped-def]
    return get_stream_format(wire_format).parser(TARGET)


@pytest.mark.parametrize("step", [0, 1, 5])
def test_a_text_stream_gives_role_content_finish_and_usage(step: int) -> None:
    parser = _parser()
    chunks = feed_all(parser, OPENAI_TEXT, step)
    choices, usage = join(chunks)
    assert choices[0].role == "assistant"
    assert choices[0].content == "Hello! How can I help?"
    assert choices[0].finish_reason == "stop"
    assert usage is not None and usage["total_tokens"] == 21
    assert parser.state == "finished"
    assert parser.usage is not None and parser.usage.completion_tokens == 12
    assert {chunk["id"] for chunk in chunks} == {"chatcmpl-123"}


def test_tool_call_fragments_join_into_the_call() -> None:
    choices, _ = join(feed_all(_parser(), OPENAI_TOOL, 3))
    call = choices[0].tool_calls[0]
    assert call["id"] == "call_DdmO9pD3xa9XTPNJ32zg2hcA" and call["name"] == "get_weather"
    assert json.loads(call["arguments"]) == {"location": "Paris, France"}
    assert choices[0].finish_reason == "tool_calls"


def test_the_answer_is_complete_at_the_usage_chunk_before_done() -> None:
    parser = _parser()
    before_done = OPENAI_TEXT[: OPENAI_TEXT.index(b"data: [DONE]")]
    join(parser.feed(before_done))
    assert parser.state == "complete"  # the reader may stop: nothing more is owed but [DONE]


def test_a_stream_without_done_ends_complete_with_its_usage() -> None:
    parser = _parser()
    chunks = feed_all(parser, OPENAI_TEXT.replace(b"data: [DONE]\n\n", b""))
    assert parser.state == "complete"
    assert join(chunks)[1] is not None


def test_a_vendor_that_sends_no_usage_chunk_still_finishes_at_done() -> None:
    body = b"".join(
        part + b"\n\n"
        for part in OPENAI_TEXT.split(b"\n\n")
        if b'"choices": []' not in part and part
    )
    parser = _parser()
    chunks = feed_all(parser, body)
    assert parser.state == "finished" and parser.usage is None
    assert join(chunks)[0][0].content == "Hello! How can I help?"


def test_a_stream_cut_before_its_finish_reason_is_a_cut() -> None:
    cut_at = OPENAI_TEXT.index(b'"finish_reason": "stop"')
    parser = _parser()
    parser.feed(OPENAI_TEXT[:cut_at])
    with pytest.raises(StreamCut) as caught:
        parser.close()
    assert map_stream_error(caught.value).error_class == "ProviderConnectionError"


def test_an_error_object_in_a_data_line_is_classified_by_openais_tables() -> None:
    parser = _parser()
    parser.feed(OPENAI_TEXT[: OPENAI_TEXT.index(b"\n\n") + 2])
    with pytest.raises(StreamErrorEvent) as caught:
        parser.feed(sse((None, OPENAI_ERROR_LINE)))
    error = map_stream_error(caught.value)
    assert isinstance(error, ServerError) and "server had an error" in error.message
    overloaded = {"error": {"message": "busy", "type": "x", "code": "server_is_overloaded"}}
    with pytest.raises(StreamErrorEvent) as caught:
        _parser().feed(sse((None, overloaded)))
    assert map_stream_error(caught.value).error_class == "Overloaded"


def test_a_malformed_chunk_names_its_line_and_maps_to_server_error() -> None:
    parser = _parser()
    with pytest.raises(MalformedChunk, match="line 3") as caught:
        parser.feed(OPENAI_TEXT.split(b"\n\n")[0] + b'\n\ndata: {"id": "chatcmpl-\n\n')
    assert map_stream_error(caught.value).error_class == "ServerError"


def test_a_vendors_finish_reasons_go_through_its_table() -> None:
    body = OPENAI_TEXT.replace(b'"finish_reason": "stop"', b'"finish_reason": "model_length"')
    choices, _ = join(feed_all(_parser("mistral"), body))
    assert choices[0].finish_reason == "length"
    failing = OPENAI_TEXT.replace(
        b'"finish_reason": "stop"', b'"finish_reason": "insufficient_system_resource"'
    )
    with pytest.raises(StreamErrorEvent):
        feed_all(_parser("deepseek"), failing)


@pytest.mark.parametrize("wire_format", ["openai", "azure", "mistral", "groq"])
def test_the_stream_request_asks_for_a_stream_with_usage(wire_format: str) -> None:
    target = AdapterTarget(
        wire_format, "https://example.test/v1", "m", {"api_version": "2024-10-21"}
    )
    call = get_stream_format(wire_format).build_stream_request(REQUEST, target, "sk-test")
    assert call.json["stream"] is True
    assert call.json["stream_options"] == {"include_usage": True}
    assert call.headers["Accept"] == "text/event-stream"


def test_usage_on_every_chunk_gives_one_usage_chunk_with_the_final_counts() -> None:
    # vLLM's stream_options.continuous_usage_stats puts the running usage on every chunk
    # (https://docs.vllm.ai/en/latest/serving/openai_compatible_server.html)
    running = b'"usage": {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12}'
    body = OPENAI_TEXT.replace(b'"usage": null', running)
    chunks = feed_all(_parser("vllm"), body)
    assert [chunk["usage"]["total_tokens"] for chunk in chunks if "usage" in chunk] == [21]
    # without OpenAI's final usage chunk and [DONE], the running usage is what there is
    events = [part for part in body.split(b"\n\n") if part and b'"choices": []' not in part]
    cut_short = b"".join(part + b"\n\n" for part in events if b"[DONE]" not in part)
    parser = _parser("vllm")
    chunks = feed_all(parser, cut_short)
    assert [chunk["usage"]["total_tokens"] for chunk in chunks if "usage" in chunk] == [12]
    assert parser.state == "complete"


def test_azure_prompt_filter_chunks_without_choices_carry_nothing() -> None:
    # Azure OpenAI streams a first chunk with empty choices and prompt_filter_results
    # (https://learn.microsoft.com/azure/ai-foundry/openai/concepts/content-filter, streaming)
    first = {
        "id": "",
        "object": "",
        "created": 0,
        "model": "",
        "choices": [],
        "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": {}}],
    }
    parser = _parser("azure")
    choices, usage = join(feed_all(parser, sse((None, first)) + OPENAI_TEXT))
    assert choices[0].content == "Hello! How can I help?" and usage is not None
