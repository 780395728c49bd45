"""Gemini's ``streamGenerateContent`` with ``alt=sse``.

``POST .../models/{model}:streamGenerateContent?alt=sse`` takes the body of ``generateContent``
and answers SSE ``data:`` events, each a whole ``GenerateContentResponse`` carrying the next
parts of each candidate (https://ai.google.dev/api/generate-content#method:-models.streamgeneratecontent,
https://ai.google.dev/gemini-api/docs/text-generation#streaming-responses; python-genai reads
them in ``_api_client.py``). There is no terminal event and no ``[DONE]``: the chunk that gives
every candidate its ``finishReason`` ends the answer, with the final ``usageMetadata``. A
``functionCall`` part comes whole, so it becomes one tool-call delta carrying the id the
unstreamed adapter gives it. An ``{"error": ...}`` event is classified as an error body.
"""

from __future__ import annotations

from typing import Any

from adapters.base import AdapterTarget, HttpCall
from adapters.errors import ContentBlocked, MalformedChunk, ServerError, StreamErrorEvent
from adapters.finish_reasons import FinishReason, finish_reason_from
from adapters.gemini.errors import classify_error
from adapters.gemini.request import PROVIDER_LABEL
from adapters.gemini.response import (
    ERROR_FINISH_REASONS,
    FINISH_REASON_TABLE,
    tool_call_from_part,
    usage_from,
)
from adapters.streams.base import AdapterStream, SseChunkParser, encoded, event_object
from adapters.streams.sse import SseEvent

__all__ = ["GeminiChunkParser", "GeminiStreamFormat"]

_UNARY = ":generateContent"
_STREAMED = ":streamGenerateContent"


class GeminiStreamFormat(AdapterStream):
    """Gemini's generateContent, streamed as SSE."""

    def streaming(self, call: HttpCall) -> HttpCall:
        url = call.url.removesuffix(_UNARY) + _STREAMED
        return HttpCall(call.method, url, call.headers, call.json, {**call.params, "alt": "sse"})

    def parser(self, target: AdapterTarget) -> GeminiChunkParser:
        return GeminiChunkParser(target)


class GeminiChunkParser(SseChunkParser):
    """GenerateContentResponse events as OpenAI chunks, one choice per candidate."""

    def __init__(self, target: AdapterTarget) -> None:
        super().__init__(target)
        self._usage_raw: Any = None

    def on_event(self, event: SseEvent) -> None:
        payload = event_object(event)
        if "error" in payload and "candidates" not in payload:
            code = payload["error"].get("code") if isinstance(payload["error"], dict) else None
            error = classify_error(code if isinstance(code, int) else 500, {}, encoded(payload))
            error.status_code = None  # the stream's status was 200; the code is in the text
            raise StreamErrorEvent(error)
        self._identity(payload)
        if payload.get("usageMetadata") is not None:
            self._usage_raw = payload["usageMetadata"]
        candidates = payload.get("candidates")
        if candidates is None:
            self._refused(payload, event.line)
            return
        if not isinstance(candidates, list):
            raise MalformedChunk(f"line {event.line}: candidates is not a list")
        for position, candidate in enumerate(candidates):
            self._candidate(candidate, position, event.line)
        if self.chunks.all_finished:
            self.chunks.report_usage(usage_from(self._usage_raw))
            self.terminal()

    def _identity(self, payload: dict[str, Any]) -> None:
        self.chunks.id = self.chunks.id or str(payload.get("responseId") or "")
        version = payload.get("modelVersion")
        if isinstance(version, str) and version:
            self.chunks.model = version

    def _refused(self, payload: dict[str, Any], line: int) -> None:
        feedback = payload.get("promptFeedback")
        reason = feedback.get("blockReason") if isinstance(feedback, dict) else None
        if reason:
            blocked = ContentBlocked(
                f"{PROVIDER_LABEL} blocked the prompt: promptFeedback.blockReason {reason}",
                provider_code=str(reason),
            )
            raise StreamErrorEvent(blocked)
        if self._usage_raw is None:
            raise MalformedChunk(f"line {line}: an event with neither candidates nor usage")

    def _candidate(self, candidate: Any, position: int, line: int) -> None:
        if not isinstance(candidate, dict):
            raise MalformedChunk(f"line {line}: candidates[{position}] is not an object")
        index = candidate.get("index")
        index = index if isinstance(index, int) else position
        native = candidate.get("finishReason")
        if isinstance(native, str) and native in ERROR_FINISH_REASONS:
            failed = ERROR_FINISH_REASONS[native](
                f"the generation failed: finishReason {native}", provider_code=native
            )
            raise StreamErrorEvent(failed)
        self.chunks.role(index)
        content = candidate.get("content")
        parts = content.get("parts") if isinstance(content, dict) else None
        for part in parts or ():
            if isinstance(part, dict):
                self._part(index, part)
        if native is not None:
            calls = self.chunks.has_calls(index)
            unknown: FinishReason = "tool_calls" if calls else "stop"
            finish = finish_reason_from(FINISH_REASON_TABLE, native, unknown=unknown)
            self.chunks.finish(index, "tool_calls" if calls and finish == "stop" else finish)

    def _part(self, index: int, part: dict[str, Any]) -> None:
        if isinstance(part.get("text"), str) and not part.get("thought"):
            self.chunks.content(index, part["text"])
        elif isinstance(part.get("functionCall"), dict):
            number = self.chunks.calls.get(index, 0)
            try:
                call = tool_call_from_part(part, self.chunks.id, index, number)
            except ServerError as exc:
                raise MalformedChunk(exc.message) from exc
            self.chunks.tool_call(
                index,
                number,
                call.function.arguments,
                call_id=call.id,
                name=call.function.name,
            )
