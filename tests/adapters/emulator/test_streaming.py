"""The emulator's streamed answers (adapters/emulator/streaming.py, stream_render.py), in-process.

Every event is checked with the official SDK's own stream type: openai ``ChatCompletionChunk``,
anthropic ``RawMessageStreamEvent``, python-genai ``GenerateContentResponse`` (extra fields
forbidden), cohere ``V2ChatStreamResponse``. Cascade's own parsers (adapters/streams) read the
streams back, and what they join must be what the unstreamed answer says.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError
from starlette.testclient import TestClient

from adapters.emulator.faults import FaultRule
from adapters.emulator.stream_render import StreamScript, pieces
from adapters.emulator.streaming import Hold, StreamPlan, pace, plan_stream, stream_ask
from adapters.streams import assemble, get_stream_format
from adapters.streams.sse import SseDecoder
from broker.jobs import Choice
from tests.adapters.emulator.helpers import set_rules
from tests.adapters.emulator.stream_cases import FORMATS, StreamCase, ask
from tests.adapters.streams.helpers import feed_all, join

BASE = "http://testserver"


def _post(client: TestClient, case: StreamCase, *, stream: bool, tools: bool = False) -> Any:
    request = ask(tools=tools)
    call = case.stream_call(BASE, request) if stream else case.plain_call(BASE, request)
    return client.request(
        call.method,
        call.url,
        headers=dict(call.headers),
        json=dict(call.json),
        params=dict(call.params),
    )


def _datas(body: bytes) -> list[Any]:
    decoder = SseDecoder()
    events = decoder.feed(body) + decoder.close()[0]
    return [event.data if event.data == "[DONE]" else json.loads(event.data) for event in events]


def _validate_openai(data: Any) -> None:
    from openai.types.chat import ChatCompletionChunk

    if data != "[DONE]":
        ChatCompletionChunk.model_validate(data)


def _validate_anthropic(data: Any) -> None:
    from anthropic.types import RawMessageStreamEvent

    if data["type"] == "ping":
        return  # anthropic-sdk-python _streaming.py skips ping events before typing the rest
    TypeAdapter(RawMessageStreamEvent).validate_python(data)


def _validate_gemini(data: Any) -> None:
    from google.genai import types

    types.GenerateContentResponse.model_validate(data)


def _validate_cohere(data: Any) -> None:
    from cohere.v2.types import V2ChatStreamResponse

    parsed: Any = TypeAdapter(V2ChatStreamResponse).validate_python(data)
    assert parsed.type == data["type"]  # the union resolved to the event's own class


_VALIDATORS = {
    "openai": _validate_openai,
    "azure": _validate_openai,
    "mistral": _validate_openai,
    "anthropic": _validate_anthropic,
    "gemini": _validate_gemini,
    "cohere": _validate_cohere,
}


@pytest.mark.parametrize("tools", [False, True], ids=["text", "tools"])
@pytest.mark.parametrize("case", FORMATS, ids=lambda case: case.wire_format)
def test_every_streamed_event_is_valid_for_the_official_sdk(
    client: TestClient, case: StreamCase, tools: bool
) -> None:
    response = _post(client, case, stream=True, tools=tools)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    datas = _datas(response.content)
    # Gemini sends a function call whole: one event, then the one with its finish reason
    assert len(datas) >= (2 if tools and case.wire_format == "gemini" else 4)
    for data in datas:
        _VALIDATORS[case.wire_format](data)


def _calls(choice: Choice) -> list[tuple[str, str, Any]]:
    return [
        (call.id, call.function.name, json.loads(call.function.arguments))
        for call in choice.message.tool_calls or ()
    ]


@pytest.mark.parametrize("tools", [False, True], ids=["text", "tools"])
@pytest.mark.parametrize("case", FORMATS, ids=lambda case: case.wire_format)
def test_the_stream_adds_up_to_the_unstreamed_answer(
    client: TestClient, case: StreamCase, tools: bool
) -> None:
    plain = _post(client, case, stream=False, tools=tools)
    expected = case.parse_plain(BASE, plain.status_code, plain.headers, plain.content)
    parser = get_stream_format(case.wire_format).parser(case.target(BASE))
    chunks = feed_all(parser, _post(client, case, stream=True, tools=tools).content, 5)
    _, usage = join(chunks)  # every chunk valid for the openai SDK, role first
    assert parser.state == "finished" and usage is not None
    assembled = assemble(chunks, parser.usage)
    assert assembled.usage == expected.usage
    assert len(assembled.choices) == len(expected.choices)
    for got, want in zip(assembled.choices, expected.choices, strict=True):
        assert got.message.content == want.message.content
        assert got.finish_reason == want.finish_reason
        assert _calls(got) == _calls(want)


def test_openai_sends_the_usage_chunk_only_when_asked(client: TestClient) -> None:
    body = {"model": "gpt-5.4", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    headers = {"Authorization": "Bearer sk-test"}
    datas = _datas(client.post("/openai/v1/chat/completions", json=body, headers=headers).content)
    assert datas[-1] == "[DONE]" and all(chunk["choices"] for chunk in datas[:-1])


def test_a_stream_fault_rule_leaves_plain_calls_alone(client: TestClient) -> None:
    set_rules(client, {"kind": "cut", "first_n": 1})
    case = FORMATS[0]
    assert _post(client, case, stream=False).status_code == 200
    parser = get_stream_format("openai").parser(case.target(BASE))
    parser.feed(_post(client, case, stream=True).content)  # the rule's first streamed call
    assert parser.state == "open"
    assert client.get("/_emulator/calls").json()["by_status"] == {"200": 1, "cut": 1}


def test_an_error_fault_on_a_streamed_call_answers_before_any_stream(client: TestClient) -> None:
    set_rules(client, {"kind": "status", "status": 529, "error_code": "overloaded_error"})
    response = _post(client, FORMATS[3], stream=True)
    assert response.status_code == 529
    assert response.json()["error"]["type"] == "overloaded_error"


# --- the plan of a broken stream (pure) ----------------------------------------------------

SCRIPT = StreamScript(events=(b"1", b"2", b"3", b"4"), terminal=(b"T",), malformed=b"M")


def _plan(**rule: Any) -> tuple[tuple[bytes | Hold, ...], bool]:
    plan = plan_stream(SCRIPT, FaultRule.model_validate(rule), default_hang_s=9.0)
    return plan.steps, plan.ends


def test_each_stream_fault_breaks_the_stream_its_own_way() -> None:
    assert plan_stream(SCRIPT, None, 9.0).steps == (b"1", b"2", b"3", b"4", b"T")
    assert _plan(kind="slow_first_token", hang_s=2) == (
        (Hold(2), b"1", b"2", b"3", b"4", b"T"),
        True,
    )
    assert _plan(kind="stall") == ((b"1", b"2", Hold(9.0), b"3", b"4", b"T"), True)
    assert _plan(kind="cut", after_chunks=1) == ((b"1",), False)
    assert _plan(kind="malformed_chunk", after_chunks=3) == (
        (b"1", b"2", b"3", b"M", b"4", b"T"),
        True,
    )
    assert _plan(kind="no_terminal") == ((b"1", b"2", b"3", b"4"), True)
    assert _plan(kind="no_terminal", hang_s=1) == ((b"1", b"2", b"3", b"4", Hold(1)), True)


@pytest.mark.parametrize(
    ("rule", "field"),
    [
        ({"kind": "stall", "status": 500}, "status"),
        ({"kind": "slow_first_token", "after_chunks": 2}, "after_chunks"),
        ({"kind": "cut", "after_chunks": -1}, "after_chunks"),
    ],
)
def test_a_stream_rule_that_cannot_work_is_refused_naming_the_field(
    rule: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError, match=field):
        FaultRule.model_validate(rule)


def test_pacing_waits_between_events_only() -> None:
    plan = StreamPlan((Hold(2), b"1", b"2", Hold(3), b"3"), ends=False)
    assert pace(plan, 0.5) == StreamPlan(
        (Hold(2), b"1", Hold(0.5), b"2", Hold(3), b"3"), ends=False
    )
    assert pace(plan, 0) is plan


def test_only_a_stream_asks_for_a_stream() -> None:
    assert stream_ask(b'{"stream": true}', False) is not None
    assert stream_ask(b'{"stream": true, "stream_options": {"include_usage": true}}', False)
    assert stream_ask(b'{"stream": false}', False) is None
    assert stream_ask(b"not json", False) is None
    assert stream_ask(b"{}", True) is not None  # Gemini's streamGenerateContent route


def test_pieces_cut_text_without_losing_any() -> None:
    text = "Ünïcødé text, cut every twelve characters."
    assert "".join(pieces(text)) == text and len(pieces(text)) == 4
    assert pieces("") == [""]
