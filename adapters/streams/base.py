"""What every stream parser provides, and the OpenAI ``chat.completion.chunk`` it builds.

A parser is pure: bytes of a 2xx streamed body in (split anywhere), OpenAI chunk dicts out, in
the order OpenAI sends them: a role chunk first per choice, content and tool-call deltas
(``{index, id, type, function: {name, arguments}}``, the id and name on a call's first delta
only), a chunk with the choice's ``finish_reason`` (mapped through the adapter's finish-reason
table), then one chunk with no choices and the ``usage`` (``stream_options.include_usage``).

Its end state says whether the answer may be used (``StreamState``):

- ``finished``: the format's terminal event came (``[DONE]``, ``message_stop``,
  ``message-end``, Gemini's last chunk with its ``finishReason``);
- ``complete``: every choice has its finish reason and the usage came, but the terminal event
  has not (yet): the reader may stop here, the answer is whole;
- ``open``: neither yet. ``close()`` at the end of the body turns ``open`` into ``StreamCut``,
  unless every choice had finished (a vendor that ignores ``include_usage``: complete, no usage).

Faults raise ``adapters.errors.StreamFault`` subclasses; ``map_stream_error`` classifies them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any, ClassVar, Literal, Protocol

from adapters.base import Adapter, AdapterTarget, HttpCall
from adapters.errors import MalformedChunk, StreamCut
from adapters.finish_reasons import FinishReason
from adapters.streams.sse import SseDecoder, SseEvent
from broker.jobs import CompletionRequest, Usage

__all__ = [
    "AdapterStream",
    "Chunk",
    "ChunkStream",
    "SseChunkParser",
    "StreamFormat",
    "StreamParser",
    "StreamState",
    "encoded",
    "event_object",
    "usage_payload",
]

Chunk = dict[str, Any]
StreamState = Literal["open", "complete", "finished"]


class StreamParser(Protocol):
    """One streamed answer being read."""

    @property
    def state(self) -> StreamState: ...

    @property
    def usage(self) -> Usage | None:
        """The answer's usage once the stream reported it."""
        ...

    def feed(self, data: bytes) -> list[Chunk]:
        """The chunks ``data`` completed; raises a StreamFault."""
        ...

    def close(self) -> list[Chunk]:
        """The end of the body; raises StreamCut when the answer is not complete."""
        ...


class StreamFormat(Protocol):
    """How one wire format streams: its streaming request and its parser."""

    name: str

    def build_stream_request(
        self, request: CompletionRequest, target: AdapterTarget, api_key: str
    ) -> HttpCall:
        """The streaming HTTP call for ``request``; InvalidRequest as ``build_request`` does."""
        ...

    def parser(self, target: AdapterTarget) -> StreamParser:
        """A fresh parser for one streamed answer from ``target``."""
        ...


class AdapterStream:
    """A stream format built on its adapter: the adapter's own call, switched to streaming (so
    a vendor's quirks apply to its streams as to its plain calls). Subclasses say how the
    format switches (``body_switch``, or ``streaming`` itself) and give the parser."""

    body_switch: ClassVar[Mapping[str, Any]] = {"stream": True}

    def __init__(self, adapter: Adapter) -> None:
        self.adapter = adapter
        self.name = adapter.name

    def build_stream_request(
        self, request: CompletionRequest, target: AdapterTarget, api_key: str
    ) -> HttpCall:
        return self.streaming(self.adapter.build_request(request, target, api_key))

    def streaming(self, call: HttpCall) -> HttpCall:
        """``call`` asking for an event stream."""
        headers = {**call.headers, "Accept": "text/event-stream"}
        return HttpCall(
            call.method, call.url, headers, {**call.json, **self.body_switch}, call.params
        )


def usage_payload(usage: Usage) -> dict[str, Any]:
    """``usage`` in OpenAI's shape, as the final chunk carries it."""
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cached_tokens},
        "completion_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
    }


def encoded(payload: Mapping[str, Any]) -> bytes:
    """An event's decoded object as the bytes an error classifier reads."""
    return json.dumps(payload).encode("utf-8")


def event_object(event: SseEvent) -> dict[str, Any]:
    """The JSON object an event's data holds; MalformedChunk naming its line otherwise."""
    try:
        payload = json.loads(event.data)
    except ValueError as exc:
        raise MalformedChunk(f"line {event.line}: the event's data is not JSON: {exc}") from exc
    if not isinstance(payload, dict):
        raise MalformedChunk(f"line {event.line}: the event's data is not a JSON object")
    return payload


class ChunkStream:
    """The chunks of one answer as they are built, and what has been seen of each choice."""

    def __init__(self, target: AdapterTarget) -> None:
        self.id = ""
        self.model = target.model_id
        # OpenAI's chunks say when they were made; the other formats do not, so "now" it is, as
        # the unstreamed adapters do for Gemini and Cohere
        self.created = int(time.time())
        self.out: list[Chunk] = []
        self.started: set[int] = set()
        self.finished: set[int] = set()
        self.calls: dict[int, int] = {}  # choice -> tool calls begun in it
        self.usage: Usage | None = None

    def role(self, index: int) -> None:
        """The role chunk of choice ``index``, once."""
        if index not in self.started:
            self.started.add(index)
            self._delta(index, {"role": "assistant", "content": ""})

    def content(self, index: int, text: str) -> None:
        if text:
            self.role(index)
            self._delta(index, {"content": text})

    def tool_call(
        self,
        index: int,
        position: int,
        arguments: str,
        *,
        call_id: str | None = None,
        name: str | None = None,
    ) -> None:
        """A tool-call delta; the first one of a call carries its id and name."""
        self.role(index)
        call: dict[str, Any] = {"index": position}
        if call_id is not None:
            call["id"] = call_id
            call["type"] = "function"
            self.calls[index] = max(self.calls.get(index, 0), position + 1)
        function: dict[str, Any] = {"arguments": arguments}
        if name is not None:
            function["name"] = name
        call["function"] = function
        self._delta(index, {"tool_calls": [call]})

    def finish(self, index: int, reason: FinishReason) -> None:
        self.role(index)
        self.finished.add(index)
        self.out.append(self._chunk([_choice(index, {}, reason)]))

    def report_usage(self, usage: Usage) -> None:
        """The final chunk with the usage and no choices."""
        self.usage = usage
        self.out.append({**self._chunk([]), "usage": usage_payload(usage)})

    def has_calls(self, index: int) -> bool:
        return self.calls.get(index, 0) > 0

    @property
    def all_finished(self) -> bool:
        return bool(self.finished) and self.finished >= self.started

    def take(self) -> list[Chunk]:
        chunks, self.out = self.out, []
        return chunks

    def _delta(self, index: int, delta: dict[str, Any]) -> None:
        self.out.append(self._chunk([_choice(index, delta, None)]))

    def _chunk(self, choices: list[dict[str, Any]]) -> Chunk:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": choices,
        }


def _choice(index: int, delta: Mapping[str, Any], reason: str | None) -> dict[str, Any]:
    return {"index": index, "delta": dict(delta), "logprobs": None, "finish_reason": reason}


class SseChunkParser:
    """A parser of an SSE body: subclasses read each event with ``on_event`` into ``chunks``
    and move ``state``; this class decodes, collects and ends."""

    def __init__(self, target: AdapterTarget) -> None:
        self.chunks = ChunkStream(target)
        self._decoder = SseDecoder()
        self._state: StreamState = "open"

    @property
    def state(self) -> StreamState:
        return self._state

    @property
    def usage(self) -> Usage | None:
        return self.chunks.usage

    def feed(self, data: bytes) -> list[Chunk]:
        self._read(self._decoder.feed(data))
        return self.chunks.take()

    def _read(self, events: list[SseEvent]) -> None:
        for event in events:
            if self._state == "finished":
                break  # anything after the terminal event is not part of the answer
            self.on_event(event)

    def close(self) -> list[Chunk]:
        events, _ = self._decoder.close()
        self._read(events)
        if self._state == "open" and self.chunks.all_finished:
            self._state = "complete"
        if self._state == "open":
            raise StreamCut(self.cut_reason())
        return self.chunks.take()

    def on_event(self, event: SseEvent) -> None:
        raise NotImplementedError

    def complete(self) -> None:
        """Every choice finished and the usage came: the answer is whole."""
        if self._state == "open":
            self._state = "complete"

    def terminal(self) -> None:
        """The format's terminal event came."""
        self._state = "finished"

    def cut_reason(self) -> str:
        if not self.chunks.started:
            return "the body ended before any part of the answer"
        return "the body ended before the answer's finish reason and terminal event"
