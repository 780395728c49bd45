"""Streams over real HTTP: a real ``cascade emulator`` process, httpx, the official SDKs, and
cascade's parsers, for every wire format and every stream fault the emulator injects."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from adapters.errors import (
    MalformedChunk,
    ProviderConnectionError,
    ProviderTimeout,
    ServerError,
    StreamCut,
    map_stream_error,
    map_transport_error,
)
from adapters.streams import Chunk, StreamParser, assemble, get_stream_format
from broker.local_stack import LocalStack
from tests.adapters.emulator.stream_cases import FORMATS, StreamCase, ask
from tests.adapters.streams.helpers import join
from tests.integration.support import Emulator

pytestmark = pytest.mark.integration

OPENAI = FORMATS[0]


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with LocalStack() as stack:
        yield stack.start_emulator()


@pytest.fixture
def emulator(base_url: str) -> Iterator[Emulator]:
    control = Emulator(base_url)
    control.reset()
    yield control
    control.reset()


def _read(
    base_url: str, case: StreamCase, parser: StreamParser, *, read_s: float = 5, tools: bool = False
) -> tuple[list[Chunk], list[float]]:
    """The chunks of one streamed call, read until the parser says the answer is whole, and
    when each piece of the body arrived (seconds from the request)."""
    call = case.stream_call(base_url, ask(tools=tools))
    chunks: list[Chunk] = []
    arrivals: list[float] = []
    started = time.monotonic()
    timeout = httpx.Timeout(5, read=read_s)
    with httpx.stream(
        call.method,
        call.url,
        headers=call.headers,
        json=call.json,
        params=call.params,
        timeout=timeout,
    ) as response:
        assert response.status_code == 200
        for piece in response.iter_raw():
            arrivals.append(time.monotonic() - started)
            chunks += parser.feed(piece)
            if parser.state != "open":
                break  # the answer is whole: no need to wait for the rest of the body
        else:
            chunks += parser.close()
    return chunks, arrivals


@pytest.mark.parametrize("tools", [False, True], ids=["text", "tools"])
@pytest.mark.parametrize("case", FORMATS, ids=lambda case: case.wire_format)
def test_every_format_streams_the_unstreamed_answer_over_http(
    base_url: str, emulator: Emulator, case: StreamCase, tools: bool
) -> None:
    plain_call = case.plain_call(base_url, ask(tools=tools))
    plain = httpx.request(
        plain_call.method,
        plain_call.url,
        headers=plain_call.headers,
        json=plain_call.json,
        params=plain_call.params,
    )
    expected = case.parse_plain(base_url, plain.status_code, plain.headers, plain.content)
    parser = get_stream_format(case.wire_format).parser(case.target(base_url))
    chunks, _ = _read(base_url, case, parser, tools=tools)
    _, usage = join(chunks)
    assert len([c for c in chunks if c["choices"] and c["choices"][0]["delta"]]) >= 2
    answer = assemble(chunks, parser.usage)
    got, want = answer.choices[0], expected.choices[0]
    assert (got.message.content, got.finish_reason) == (want.message.content, want.finish_reason)
    assert [(c.id, json.loads(c.function.arguments)) for c in got.message.tool_calls or ()] == [
        (c.id, json.loads(c.function.arguments)) for c in want.message.tool_calls or ()
    ]
    assert answer.usage == expected.usage and usage is not None


def test_the_openai_sdk_reads_the_stream_with_its_usage(base_url: str, emulator: Emulator) -> None:
    sdk = openai.OpenAI(base_url=f"{base_url}/openai/v1", api_key="sk-test", max_retries=0)
    messages: list[ChatCompletionMessageParam] = [
        {"role": "user", "content": "What is the capital of France?"}
    ]
    plain = sdk.chat.completions.create(model="gpt-5.4", messages=messages)
    stream = sdk.chat.completions.create(
        model="gpt-5.4",
        messages=messages,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == plain.choices[0].message.content
    last_usage, plain_usage = chunks[-1].usage, plain.usage
    assert last_usage is not None and plain_usage is not None
    assert last_usage.total_tokens == plain_usage.total_tokens


def test_the_anthropic_sdk_reads_the_stream_as_its_events(
    base_url: str, emulator: Emulator
) -> None:
    sdk = anthropic.Anthropic(
        base_url=f"{base_url}/anthropic",
        api_key="sk-ant",
        max_retries=0,
        default_headers={"x-api-key": "sk-ant"},  # this SDK version sends the key as a bearer
    )
    with sdk.messages.stream(
        model="claude-sonnet-4-5",
        max_tokens=256,
        messages=[{"role": "user", "content": "What is the capital of France?"}],
    ) as stream:
        kinds = [event.type for event in stream]
        message = stream.get_final_message()
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    assert message.stop_reason == "end_turn" and message.usage.output_tokens > 0


def test_the_cohere_and_google_sdks_read_their_streams(base_url: str, emulator: Emulator) -> None:
    import cohere
    from google import genai
    from google.genai import types

    question = "What is the capital of France?"
    co = cohere.ClientV2(api_key="co-key", base_url=f"{base_url}/cohere")
    messages: Any = [{"role": "user", "content": question}]
    kinds = [event.type for event in co.chat_stream(model="command-a-03-2025", messages=messages)]
    assert kinds[0] == "message-start" and kinds[-1] == "message-end"
    assert kinds.count("content-delta") > 1
    options = types.HttpOptions(base_url=f"{base_url}/gemini", api_version="v1beta")
    google = genai.Client(api_key="AIza-test", http_options=options)
    answers = list(
        google.models.generate_content_stream(model="gemini-2.5-flash", contents=question)
    )
    assert "".join(answer.text or "" for answer in answers).startswith("[gemini/gemini-2.5-flash]")
    usage = answers[-1].usage_metadata
    assert usage is not None and usage.total_token_count


def test_a_chunk_interval_paces_the_stream(base_url: str, emulator: Emulator) -> None:
    emulator.latency(chunk_interval_s=0.05)
    parser = get_stream_format("openai").parser(OPENAI.target(base_url))
    _, arrivals = _read(base_url, OPENAI, parser)
    assert arrivals[-1] - arrivals[0] >= 0.05 * 5  # the reply has more than six events


def test_a_slow_first_token_waits_after_the_headers(base_url: str, emulator: Emulator) -> None:
    emulator.faults({"kind": "slow_first_token", "hang_s": 0.8, "model": "gpt-5.4"})
    parser = get_stream_format("openai").parser(OPENAI.target(base_url))
    chunks, arrivals = _read(base_url, OPENAI, parser)
    assert arrivals[0] >= 0.75
    assert join(chunks)[0][0].content.startswith("[openai/gpt-5.4]")


def test_a_stall_holds_the_connection_open_until_an_idle_limit_fires(
    base_url: str, emulator: Emulator
) -> None:
    emulator.faults({"kind": "stall", "after_chunks": 2, "hang_s": 5, "model": "gpt-5.4"})
    parser = get_stream_format("openai").parser(OPENAI.target(base_url))
    started = time.monotonic()
    with pytest.raises(httpx.ReadTimeout) as caught:
        _read(base_url, OPENAI, parser, read_s=0.4)
    assert time.monotonic() - started < 2
    assert isinstance(map_transport_error(caught.value), ProviderTimeout)
    assert parser.state == "open"


def test_a_stall_shorter_than_the_idle_limit_only_delays(base_url: str, emulator: Emulator) -> None:
    emulator.faults({"kind": "stall", "after_chunks": 3, "hang_s": 0.6})
    parser = get_stream_format("openai").parser(OPENAI.target(base_url))
    chunks, arrivals = _read(base_url, OPENAI, parser)
    assert parser.state != "open" and arrivals[-1] >= 0.55
    assert max(b - a for a, b in zip(arrivals, arrivals[1:], strict=False)) >= 0.55


def test_a_cut_stream_is_a_connection_error_never_a_whole_answer(
    base_url: str, emulator: Emulator
) -> None:
    emulator.faults({"kind": "cut", "after_chunks": 3, "model": "gpt-5.4"})
    parser = get_stream_format("openai").parser(OPENAI.target(base_url))
    with pytest.raises(httpx.RemoteProtocolError) as caught:
        _read(base_url, OPENAI, parser)
    assert isinstance(map_transport_error(caught.value), ProviderConnectionError)
    assert parser.state == "open"
    with pytest.raises(StreamCut):
        parser.close()


def test_a_malformed_chunk_fails_the_stream_as_a_server_error(
    base_url: str, emulator: Emulator
) -> None:
    emulator.faults({"kind": "malformed_chunk", "after_chunks": 2, "provider": "anthropic"})
    case = FORMATS[3]
    parser = get_stream_format("anthropic").parser(case.target(base_url))
    with pytest.raises(MalformedChunk) as caught:
        _read(base_url, case, parser)
    assert isinstance(map_stream_error(caught.value), ServerError)
    assert parser.state == "open"


@pytest.mark.parametrize("case", [FORMATS[0], FORMATS[3]], ids=["openai", "anthropic"])
def test_a_stream_without_its_terminal_event_finishes_promptly_with_usage(
    base_url: str, emulator: Emulator, case: StreamCase
) -> None:
    emulator.faults({"kind": "no_terminal", "hang_s": 10})  # the connection stays open
    parser = get_stream_format(case.wire_format).parser(case.target(base_url))
    started = time.monotonic()
    chunks, _ = _read(base_url, case, parser)
    assert time.monotonic() - started < 2
    assert parser.state == "complete" and parser.usage is not None
    assert join(chunks)[1] is not None


def test_where_the_usage_is_in_the_terminal_event_a_missing_one_is_a_cut(
    base_url: str, emulator: Emulator
) -> None:
    emulator.faults({"kind": "no_terminal", "provider": "gemini"})
    case = FORMATS[4]
    parser = get_stream_format("gemini").parser(case.target(base_url))
    with pytest.raises(StreamCut):
        _read(base_url, case, parser)


def test_a_fault_for_one_model_leaves_the_others_whole(base_url: str, emulator: Emulator) -> None:
    emulator.faults({"kind": "cut", "model": "o3"})
    parser = get_stream_format("openai").parser(OPENAI.target(base_url))
    _read(base_url, OPENAI, parser)
    assert parser.state != "open"
    counts = emulator.calls()["by_status"]
    assert counts == {"200": 1}, json.dumps(counts)
