"""Cohere's v2 chat stream: ``stream: true``, SSE events named by their ``type``.

Events (https://docs.cohere.com/v2/docs/streaming, https://docs.cohere.com/docs/tool-use-streaming,
cohere-python ``v2/types/v2chat_stream_response.py``): ``message-start``, ``content-start`` /
``content-delta`` / ``content-end``, ``tool-plan-delta``, ``tool-call-start`` /
``tool-call-delta`` / ``tool-call-end``, ``citation-start`` / ``citation-end``, ``debug``, and
``message-end`` (terminal: ``finish_reason``, ``usage``, and ``error`` when the generation
failed). The SDK also stops at a ``[DONE]`` data line, which is taken as terminal too.

The tool plan streams as content: the unstreamed adapter returns the plan as the content of an
answer that has only tool calls, which is what such a stream is.
"""

from __future__ import annotations

from typing import Any

from adapters.base import AdapterTarget
from adapters.cohere_chat import (
    ERROR_FINISH_REASONS,
    FINISH_REASON_TABLE,
    usage_from,
)
from adapters.errors import MalformedChunk, ServerError, StreamErrorEvent
from adapters.finish_reasons import FinishReason, finish_reason_from
from adapters.json_values import dig
from adapters.streams.base import AdapterStream, SseChunkParser, event_object
from adapters.streams.sse import SseEvent

__all__ = ["CohereChunkParser", "CohereStreamFormat"]


class CohereStreamFormat(AdapterStream):
    """Cohere's v2 chat, streamed."""

    def parser(self, target: AdapterTarget) -> CohereChunkParser:
        return CohereChunkParser(target)


class CohereChunkParser(SseChunkParser):
    """Cohere's v2 events as OpenAI chunks (one choice, index 0)."""

    def on_event(self, event: SseEvent) -> None:
        if event.data.strip() == "[DONE]":
            if self.chunks.all_finished:
                self.terminal()
            return
        payload = event_object(event)
        kind = payload.get("type")
        if not isinstance(kind, str):
            raise MalformedChunk(f"line {event.line}: an event without a 'type'")
        message = dig(payload, ("delta", "message"))
        message = message if isinstance(message, dict) else {}
        if kind == "message-start":
            self.chunks.id = str(payload.get("id") or "")
            self.chunks.role(0)
        elif kind in ("content-start", "content-delta"):
            text = dig(message, ("content", "text"))
            self.chunks.content(0, text if isinstance(text, str) else "")
        elif kind == "tool-plan-delta":
            plan = message.get("tool_plan")
            self.chunks.content(0, plan if isinstance(plan, str) else "")
        elif kind in ("tool-call-start", "tool-call-delta"):
            self._tool_call(payload, message, event.line, start=kind == "tool-call-start")
        elif kind == "message-end":
            self._end(payload, event.line)

    def _tool_call(
        self, payload: dict[str, Any], message: dict[str, Any], line: int, *, start: bool
    ) -> None:
        call = message.get("tool_calls")
        position = payload.get("index")
        if not isinstance(call, dict) or not isinstance(position, int):
            raise MalformedChunk(f"line {line}: a tool-call event without index or tool_calls")
        function = call.get("function")
        function = function if isinstance(function, dict) else {}
        arguments = function.get("arguments")
        arguments = arguments if isinstance(arguments, str) else ""
        if not start:
            self.chunks.tool_call(0, position, arguments)
            return
        call_id, name = call.get("id"), function.get("name")
        if not isinstance(call_id, str) or not call_id or not isinstance(name, str) or not name:
            raise MalformedChunk(f"line {line}: tool-call-start without id or function name")
        self.chunks.tool_call(0, position, arguments, call_id=call_id, name=name)

    def _end(self, payload: dict[str, Any], line: int) -> None:
        delta = payload.get("delta")
        if not isinstance(delta, dict):
            raise MalformedChunk(f"line {line}: message-end without a delta")
        native = delta.get("finish_reason")
        if (isinstance(native, str) and native in ERROR_FINISH_REASONS) or delta.get("error"):
            reason = delta.get("error") or f"finish_reason {native!r}"
            raise StreamErrorEvent(ServerError(f"the generation failed: {reason}"))
        calls = self.chunks.has_calls(0)
        unknown: FinishReason = "tool_calls" if calls else "stop"
        self.chunks.finish(0, finish_reason_from(FINISH_REASON_TABLE, native, unknown=unknown))
        self.chunks.report_usage(usage_from(delta.get("usage")))
        self.terminal()
