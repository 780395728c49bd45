"""OpenAI's chat-completions stream (Azure and every OpenAI-compatible vendor too).

Request: the adapter's own call with ``stream: true`` and ``stream_options.include_usage``, so
the last chunk before ``data: [DONE]`` carries the usage with an empty ``choices`` list
(https://platform.openai.com/docs/api-reference/chat/create#chat-create-stream_options; Azure
accepts it from api-version 2024-09-01-preview).

Parser: each ``data:`` line is a ``chat.completion.chunk``
(https://platform.openai.com/docs/api-reference/chat-streaming/streaming); chunks are rebuilt,
not passed through, so a vendor's finish reasons go through its finish-reason table
(``CompatQuirks.finish_reasons``) and a finish reason that means failure raises. An
``{"error": {...}}`` data line (openai-python ``_streaming.py`` raises ``APIError`` for one) is
classified by the adapter's own error tables. ``[DONE]`` is the terminal event.
"""

from __future__ import annotations

from typing import Any

from adapters.base import AdapterTarget
from adapters.errors import MalformedChunk, ServerError, StreamErrorEvent
from adapters.finish_reasons import FinishReason, finish_reason_from
from adapters.openai_answer import usage_from
from adapters.openai_chat import OpenAIChatAdapter
from adapters.openai_quirks import CompatQuirks
from adapters.streams.base import AdapterStream, Chunk, SseChunkParser, event_object
from adapters.streams.sse import SseEvent

__all__ = ["OpenAIChunkParser", "OpenAIStreamFormat"]

DONE = "[DONE]"


class OpenAIStreamFormat(AdapterStream):
    """The stream of an OpenAI-shaped adapter (``OpenAIChatAdapter`` and its subclasses)."""

    body_switch = {"stream": True, "stream_options": {"include_usage": True}}

    def __init__(self, adapter: OpenAIChatAdapter) -> None:
        super().__init__(adapter)
        self.openai_adapter = adapter

    def parser(self, target: AdapterTarget) -> OpenAIChunkParser:
        return OpenAIChunkParser(target, self.openai_adapter)


class OpenAIChunkParser(SseChunkParser):
    """``chat.completion.chunk`` data lines, then ``[DONE]``."""

    def __init__(self, target: AdapterTarget, adapter: OpenAIChatAdapter) -> None:
        super().__init__(target)
        self.adapter = adapter
        self.quirks: CompatQuirks = adapter.quirks
        self._usage: Any = None

    def on_event(self, event: SseEvent) -> None:
        if event.data.strip() == DONE:
            if not self.chunks.all_finished:
                raise MalformedChunk(f"line {event.line}: [DONE] before every choice finished")
            self._report_usage()
            self.terminal()
            return
        payload = event_object(event)
        if "error" in payload:
            error = self.adapter.classify_error(200, {}, event.data.encode("utf-8"))
            error.status_code = None  # the stream's status was 200; nothing to say
            raise StreamErrorEvent(error)
        self._identity(payload)
        choices = payload.get("choices")
        if not isinstance(choices, list):
            raise MalformedChunk(f"line {event.line}: a chunk without a 'choices' list")
        for position, choice in enumerate(choices):
            self._choice(choice, position, event.line)
        if payload.get("usage") is not None:
            # a vendor may report the running usage on every chunk (vLLM's continuous usage
            # stats): only the chunk without choices is OpenAI's final one; the others are
            # held, for a stream that ends without it
            self._usage = payload["usage"]
            if not choices:
                self._report_usage()

    def close(self) -> list[Chunk]:
        self._report_usage()
        return super().close()

    def _report_usage(self) -> None:
        if self._usage is not None and self.chunks.all_finished and self.state == "open":
            self.chunks.report_usage(usage_from(self._usage, self.quirks))
            self.complete()

    def _identity(self, payload: dict[str, Any]) -> None:
        chunks = self.chunks
        chunks.id = chunks.id or str(payload.get("id") or "")
        model = payload.get("model")
        if isinstance(model, str) and model:
            chunks.model = model
        created = payload.get("created")
        if isinstance(created, int) and not chunks.started:
            chunks.created = created

    def _choice(self, raw: Any, position: int, line: int) -> None:
        if not isinstance(raw, dict) or not isinstance(raw.get("delta", {}), dict):
            raise MalformedChunk(f"line {line}: choices[{position}] has no delta object")
        index = raw.get("index")
        index = index if isinstance(index, int) else position
        delta: dict[str, Any] = raw.get("delta") or {}
        self.chunks.role(index)
        content = delta.get("content")
        if isinstance(content, str):
            self.chunks.content(index, content)
        for number, call in enumerate(delta.get("tool_calls") or ()):
            self._tool_call(index, call, number, line)
        self._finish(index, raw.get("finish_reason"))

    def _tool_call(self, index: int, call: Any, number: int, line: int) -> None:
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict):
            raise MalformedChunk(f"line {line}: delta.tool_calls[{number}] has no function")
        position = call.get("index")
        call_id, name = call.get("id"), function.get("name")
        arguments = function.get("arguments")
        self.chunks.tool_call(
            index,
            position if isinstance(position, int) else number,
            arguments if isinstance(arguments, str) else "",
            call_id=call_id if isinstance(call_id, str) and call_id else None,
            name=name if isinstance(name, str) and name else None,
        )

    def _finish(self, index: int, native: Any) -> None:
        if native is None:
            return
        if isinstance(native, str) and native in self.quirks.error_finish_reasons:
            raise StreamErrorEvent(ServerError(f"the generation failed: finish_reason {native!r}"))
        unknown: FinishReason = "tool_calls" if self.chunks.has_calls(index) else "stop"
        self.chunks.finish(
            index, finish_reason_from(self.quirks.finish_reasons, native, unknown=unknown)
        )
