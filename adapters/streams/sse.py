"""An incremental decoder of Server-Sent Events: bytes in any pieces, whole events out.

Follows the WHATWG event-stream rules (https://html.spec.whatwg.org/multipage/server-sent-events.html,
"Interpreting an event stream"): lines end in CRLF, LF or CR; ``:`` starts a comment; fields
``event``, ``data`` (several lines joined by LF), ``id`` and ``retry``; a blank line dispatches.
An event left without its blank line when the body ends is dropped, as the spec says: a body
cut mid-event must not hand on half an event. Bytes may be split anywhere, mid-line or inside a
UTF-8 sequence; bytes that are not UTF-8 raise ``MalformedChunk`` naming the line.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass

from adapters.errors import MalformedChunk

__all__ = ["SseDecoder", "SseEvent"]


@dataclass(frozen=True, slots=True)
class SseEvent:
    """One dispatched event; ``event`` is ``"message"`` when the stream named none; ``line`` is
    the number (from 1) of its first ``data`` line, for error messages."""

    event: str
    data: str
    line: int
    id: str | None = None


class SseDecoder:
    """Feed it bytes; it returns the events those bytes completed."""

    def __init__(self) -> None:
        self._utf8 = codecs.getincrementaldecoder("utf-8")("strict")
        self._pending = ""  # text of the line not yet ended
        self._event = ""
        self._data: list[str] = []
        self._id: str | None = None
        self._data_line = 0
        self._started = False
        self.line_number = 0  # lines read so far, for error messages

    def feed(self, data: bytes) -> list[SseEvent]:
        """The events ``data`` completed, in order."""
        try:
            text = self._utf8.decode(data)
        except UnicodeDecodeError as exc:
            raise MalformedChunk(f"line {self.line_number + 1}: not UTF-8: {exc.reason}") from exc
        if not self._started and text:
            self._started = True
            text = text.removeprefix("\ufeff")  # the spec drops one byte-order mark at the start
        return self._lines(self._pending + text)

    def close(self) -> tuple[list[SseEvent], bool]:
        """The end of the body: the events a last CR completes, and whether an event begun was
        dropped undispatched (the stream ended inside it, so it may be half an event)."""
        events: list[SseEvent] = []
        if self._pending.endswith("\r"):
            events = self._lines(self._pending[:-1] + "\n")
        cut = bool(self._pending or self._data or self._event or self._utf8.getstate()[0])
        self._utf8.reset()
        self._pending, self._event, self._data, self._id = "", "", [], None
        return events, cut

    def _lines(self, text: str) -> list[SseEvent]:
        events: list[SseEvent] = []
        start = 0
        length = len(text)
        while start < length:
            cr = text.find("\r", start)
            lf = text.find("\n", start)
            ends = [position for position in (cr, lf) if position >= 0]
            if not ends:
                break
            end = min(ends)
            if text[end] == "\r" and end + 1 == length:
                break  # a CR at the very end may be the first half of a CRLF
            step = 2 if text.startswith("\r\n", end) else 1
            self.line_number += 1
            found = self._line(text[start:end])
            if found is not None:
                events.append(found)
            start = end + step
        self._pending = text[start:]
        return events

    def _line(self, line: str) -> SseEvent | None:
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            self._event = value
        elif name == "data":
            if not self._data:
                self._data_line = self.line_number
            self._data.append(value)
        elif name == "id" and "\0" not in value:
            self._id = value
        return None  # retry and unknown fields mean nothing to a parser

    def _dispatch(self) -> SseEvent | None:
        if not self._data:
            self._event = ""
            return None
        event = SseEvent(
            event=self._event or "message",
            data="\n".join(self._data),
            line=self._data_line,
            id=self._id,
        )
        self._event, self._data = "", []
        return event
