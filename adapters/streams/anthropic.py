"""Anthropic's Messages stream: ``stream: true``, named SSE events.

Events (https://docs.claude.com/en/docs/build-with-claude/streaming, anthropic-sdk-python
``types/raw_message_stream_event.py``): ``message_start`` (the message with empty content and
the input usage), per content block ``content_block_start`` / ``content_block_delta``
(``text_delta``, ``input_json_delta``, ``thinking_delta``, ``signature_delta``) /
``content_block_stop``, ``message_delta`` (``stop_reason`` and the cumulative output usage),
``message_stop`` (terminal), ``ping`` anywhere, and ``error`` (say ``overloaded_error``) in
place of the rest. Unknown event types are skipped: Anthropic says new ones may be added.

A ``tool_use`` block becomes an OpenAI tool call (its position among the answer's tool calls is
the OpenAI ``index``); the reserved JSON-output tool (``JSON_TOOL_NAME``) streams as content, as
the unstreamed adapter returns it. Thinking blocks carry nothing OpenAI's chunk holds.
"""

from __future__ import annotations

from typing import Any

from adapters.anthropic.errors import classify_error
from adapters.anthropic.request import JSON_TOOL_NAME
from adapters.anthropic.response import FINISH_REASON_TABLE, usage_from
from adapters.base import AdapterTarget
from adapters.errors import MalformedChunk, StreamErrorEvent
from adapters.finish_reasons import FinishReason, finish_reason_from
from adapters.streams.base import AdapterStream, SseChunkParser, encoded, event_object
from adapters.streams.sse import SseEvent

__all__ = ["AnthropicChunkParser", "AnthropicStreamFormat"]


class AnthropicStreamFormat(AdapterStream):
    """Anthropic's Messages API, streamed."""

    def parser(self, target: AdapterTarget) -> AnthropicChunkParser:
        return AnthropicChunkParser(target)


class AnthropicChunkParser(SseChunkParser):
    """Anthropic's events as OpenAI chunks (one choice, index 0)."""

    def __init__(self, target: AdapterTarget) -> None:
        super().__init__(target)
        self._blocks: dict[int, str] = {}  # block index -> "text" | "json" | "tool" | other
        self._tool_positions: dict[int, int] = {}  # block index -> OpenAI tool-call index
        self._usage: dict[str, Any] = {}

    def on_event(self, event: SseEvent) -> None:
        payload = event_object(event)
        kind = payload.get("type")
        handler = _HANDLERS.get(kind) if isinstance(kind, str) else None
        if kind is None:
            raise MalformedChunk(f"line {event.line}: an event without a 'type'")
        if handler is not None:
            handler(self, payload, event.line)

    def _message_start(self, payload: dict[str, Any], line: int) -> None:
        message = payload.get("message")
        if not isinstance(message, dict):
            raise MalformedChunk(f"line {line}: message_start without a message")
        self.chunks.id = str(message.get("id") or "")
        model = message.get("model")
        if isinstance(model, str) and model:
            self.chunks.model = model
        self._merge_usage(message.get("usage"))
        self.chunks.role(0)

    def _block_start(self, payload: dict[str, Any], line: int) -> None:
        index, block = payload.get("index"), payload.get("content_block")
        if not isinstance(index, int) or not isinstance(block, dict):
            raise MalformedChunk(f"line {line}: content_block_start without index or block")
        kind = block.get("type")
        if kind == "tool_use" and block.get("name") == JSON_TOOL_NAME:
            self._blocks[index] = "json"
        elif kind == "tool_use":
            self._start_tool(index, block, line)
        else:
            self._blocks[index] = str(kind)
            if kind == "text" and isinstance(block.get("text"), str):
                self.chunks.content(0, block["text"])

    def _start_tool(self, index: int, block: dict[str, Any], line: int) -> None:
        call_id, name = block.get("id"), block.get("name")
        if not isinstance(call_id, str) or not call_id or not isinstance(name, str) or not name:
            raise MalformedChunk(f"line {line}: a tool_use block without id or name")
        self._blocks[index] = "tool"
        position = len(self._tool_positions)
        self._tool_positions[index] = position
        self.chunks.tool_call(0, position, "", call_id=call_id, name=name)

    def _block_delta(self, payload: dict[str, Any], line: int) -> None:
        index, delta = payload.get("index"), payload.get("delta")
        if not isinstance(index, int) or not isinstance(delta, dict):
            raise MalformedChunk(f"line {line}: content_block_delta without index or delta")
        kind = delta.get("type")
        block = self._blocks.get(index)
        if kind == "text_delta" and isinstance(delta.get("text"), str):
            self.chunks.content(0, delta["text"])
        elif kind == "input_json_delta" and isinstance(delta.get("partial_json"), str):
            if block == "json":
                self.chunks.content(0, delta["partial_json"])
            elif block == "tool":
                self.chunks.tool_call(0, self._tool_positions[index], delta["partial_json"])
            else:
                raise MalformedChunk(f"line {line}: input_json_delta for block {index}")

    def _message_delta(self, payload: dict[str, Any], line: int) -> None:
        delta = payload.get("delta")
        if not isinstance(delta, dict):
            raise MalformedChunk(f"line {line}: message_delta without a delta")
        self._merge_usage(payload.get("usage"))
        native = delta.get("stop_reason")
        if native is None:
            return
        calls = self.chunks.has_calls(0)
        unknown: FinishReason = "tool_calls" if calls else "stop"
        finish = finish_reason_from(FINISH_REASON_TABLE, native, unknown=unknown)
        if finish == "tool_calls" and not calls:
            finish = "stop"  # the only call was the reserved JSON tool: that is the answer
        self.chunks.finish(0, finish)
        self.chunks.report_usage(usage_from(self._usage))
        self.complete()

    def _message_stop(self, payload: dict[str, Any], line: int) -> None:
        if not self.chunks.all_finished:
            raise MalformedChunk(f"line {line}: message_stop before a stop_reason")
        self.terminal()

    def _error(self, payload: dict[str, Any], line: int) -> None:
        error = classify_error(200, {}, encoded(payload))
        error.status_code = None  # the stream's status was 200; nothing to say
        raise StreamErrorEvent(error)

    def _merge_usage(self, raw: Any) -> None:
        if isinstance(raw, dict):
            self._usage.update({key: value for key, value in raw.items() if value is not None})


def _skip(parser: AnthropicChunkParser, payload: dict[str, Any], line: int) -> None:
    """ping and content_block_stop say nothing a chunk carries."""


_HANDLERS = {
    "message_start": AnthropicChunkParser._message_start,
    "content_block_start": AnthropicChunkParser._block_start,
    "content_block_delta": AnthropicChunkParser._block_delta,
    "content_block_stop": _skip,
    "ping": _skip,
    "message_delta": AnthropicChunkParser._message_delta,
    "message_stop": AnthropicChunkParser._message_stop,
    "error": AnthropicChunkParser._error,
}
