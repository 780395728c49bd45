"""The SSE decoder (adapters/streams/sse.py) against the WHATWG event-stream rules
(https://html.spec.whatwg.org/multipage/server-sent-events.html, "Interpreting an event stream")."""

from __future__ import annotations

import pytest

from adapters.errors import MalformedChunk
from adapters.streams.sse import SseDecoder, SseEvent

BODY = (
    'event: greet\ndata: h\u00e9llo\ndata: w\u00f6rld\n\n: a comment\ndata: {"n": 1}\n\n'.encode()
)


def _decode(body: bytes, step: int) -> tuple[list[SseEvent], bool]:
    decoder = SseDecoder()
    events: list[SseEvent] = []
    for start in range(0, len(body), step):
        events += decoder.feed(body[start : start + step])
    last, cut = decoder.close()
    return events + last, cut


@pytest.mark.parametrize("step", [1, 2, 3, 7, len(BODY)])
def test_events_come_out_the_same_however_the_bytes_are_split(step: int) -> None:
    events, cut = _decode(BODY, step)
    assert [(e.event, e.data) for e in events] == [
        ("greet", "h\u00e9llo\nw\u00f6rld"),
        ("message", '{"n": 1}'),
    ]
    assert not cut


@pytest.mark.parametrize("newline", ["\r\n", "\r", "\n"])
def test_every_line_ending_the_spec_allows_ends_a_line(newline: str) -> None:
    body = f"data: a{newline}{newline}data: b{newline}{newline}".encode()
    for step in (1, len(body)):
        events, _ = _decode(body, step)
        assert [e.data for e in events] == ["a", "b"]


def test_an_event_the_body_ends_inside_is_dropped_and_reported() -> None:
    events, cut = _decode(b'data: {"whole": true}\n\ndata: {"half', 4)
    assert [e.data for e in events] == ['{"whole": true}']
    assert cut


def test_bytes_that_are_not_utf8_name_their_line() -> None:
    decoder = SseDecoder()
    decoder.feed(b"data: ok\n\n")
    with pytest.raises(MalformedChunk, match="line 3: not UTF-8"):
        decoder.feed(b"data: \xff\xfe\n\n")


def test_an_event_knows_the_line_of_its_data() -> None:
    events, _ = _decode(b"data: a\n\n\n\nevent: x\ndata: b\n\n", 1)
    assert [e.line for e in events] == [1, 6]


def test_a_byte_order_mark_at_the_start_is_dropped_even_split() -> None:
    events, _ = _decode("\ufeffdata: x\n\n".encode(), 1)
    assert [(e.event, e.data) for e in events] == [("message", "x")]
