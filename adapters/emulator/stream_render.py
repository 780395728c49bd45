"""A streamed answer in each wire format, cut from the format's own unstreamed answer.

The stream is built from the success body the wire format already renders, so a streamed
answer always says what the unstreamed one says: text and tool arguments cut into pieces of
``PIECE_CHARS`` characters, usage at the end. Shapes: OpenAI's ``chat.completion.chunk``
(https://platform.openai.com/docs/api-reference/chat-streaming), Anthropic's Messages events
(https://docs.claude.com/en/docs/build-with-claude/streaming), Gemini's GenerateContentResponse
events with ``alt=sse`` (CRLF-framed, as Google sends them), Cohere v2's stream events
(https://docs.cohere.com/v2/docs/streaming).

Each ``StreamScript`` keeps its terminal events apart (``[DONE]``; ``message_stop``; Cohere's
``message-end``; Gemini's last chunk, which alone carries the finish reason and the final usage)
so that a fault can leave them out, and has a ``malformed`` event of its format to inject.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["PIECE_CHARS", "StreamScript", "pieces", "render_stream"]

PIECE_CHARS = 12


@dataclass(frozen=True, slots=True)
class StreamScript:
    """The events of one streamed answer, as bytes on the wire."""

    events: tuple[bytes, ...]
    terminal: tuple[bytes, ...]
    malformed: bytes


def pieces(text: str, size: int = PIECE_CHARS) -> list[str]:
    """``text`` cut every ``size`` characters (never empty: one empty piece for no text)."""
    return [text[start : start + size] for start in range(0, len(text), size)] or [""]


def render_stream(wire_name: str, body: Mapping[str, Any], *, include_usage: bool) -> StreamScript:
    """The stream of the unstreamed answer ``body`` of wire format ``wire_name``."""
    renderer = _RENDERERS[wire_name]
    return renderer(body, include_usage)


def _event(data: Mapping[str, Any] | str, name: str | None = None, newline: str = "\n") -> bytes:
    text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    head = f"event: {name}{newline}" if name else ""
    return f"{head}data: {text}{newline}{newline}".encode()


# --- OpenAI (and Azure) ----------------------------------------------------------------------


def _openai(body: Mapping[str, Any], include_usage: bool) -> StreamScript:
    base = {
        "id": body["id"],
        "object": "chat.completion.chunk",
        "created": body["created"],
        "model": body["model"],
        "system_fingerprint": body.get("system_fingerprint"),
        "service_tier": body.get("service_tier"),
    }
    if include_usage:
        base["usage"] = None  # OpenAI sends a null usage on every chunk but the last

    def chunk(index: int, delta: dict[str, Any], finish: str | None = None) -> bytes:
        choice = {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}
        return _event({**base, "choices": [choice]})

    events: list[bytes] = []
    for choice in body["choices"]:
        events.extend(_openai_choice(choice, chunk))
    if include_usage:
        events.append(_event({**base, "choices": [], "usage": body["usage"]}))
    malformed = b'data: {"id": "' + str(body["id"]).encode() + b'", "choices": [{"delta": \n\n'
    return StreamScript(tuple(events), (_event("[DONE]"),), malformed)


def _openai_choice(choice: Mapping[str, Any], chunk: Callable[..., bytes]) -> Iterator[bytes]:
    index, message = choice["index"], choice["message"]
    yield chunk(index, {"role": "assistant", "content": "", "refusal": None})
    if message.get("content"):
        for piece in pieces(message["content"]):
            yield chunk(index, {"content": piece})
    for position, call in enumerate(message.get("tool_calls") or ()):
        function = call["function"]
        first = {
            "index": position,
            "id": call["id"],
            "type": "function",
            "function": {"name": function["name"], "arguments": ""},
        }
        yield chunk(index, {"tool_calls": [first]})
        for piece in pieces(function["arguments"]):
            yield chunk(
                index, {"tool_calls": [{"index": position, "function": {"arguments": piece}}]}
            )
    yield chunk(index, {}, choice["finish_reason"])


# --- Anthropic ------------------------------------------------------------------------------


def _anthropic(body: Mapping[str, Any], include_usage: bool) -> StreamScript:
    usage = dict(body["usage"])
    start_usage = {**usage, "output_tokens": 1}  # Anthropic counts the first token at start
    message = {**body, "content": [], "stop_reason": None, "stop_sequence": None}
    events = [
        _event(
            {"type": "message_start", "message": {**message, "usage": start_usage}}, "message_start"
        )
    ]
    for index, block in enumerate(body["content"]):
        events.extend(_anthropic_block(index, block))
        if index == 0:
            events.append(_event({"type": "ping"}, "ping"))
    delta = {"stop_reason": body["stop_reason"], "stop_sequence": body.get("stop_sequence")}
    final_usage = {key: usage[key] for key in ("output_tokens",) if key in usage}
    events.append(
        _event({"type": "message_delta", "delta": delta, "usage": final_usage}, "message_delta")
    )
    malformed = b'event: content_block_delta\ndata: {"type": "content_block_delta", "ind\n\n'
    terminal = (_event({"type": "message_stop"}, "message_stop"),)
    return StreamScript(tuple(events), terminal, malformed)


def _anthropic_block(index: int, block: Mapping[str, Any]) -> Iterator[bytes]:
    if block["type"] == "tool_use":
        opened = {**block, "input": {}}
        kind, field = "input_json_delta", "partial_json"
        text = json.dumps(block.get("input") or {}, ensure_ascii=False)
    else:
        opened = {**block, "text": ""}
        kind, field = "text_delta", "text"
        text = str(block.get("text") or "")
    start = {"type": "content_block_start", "index": index, "content_block": opened}
    yield _event(start, "content_block_start")
    for piece in pieces(text):
        delta = {
            "type": "content_block_delta",
            "index": index,
            "delta": {"type": kind, field: piece},
        }
        yield _event(delta, "content_block_delta")
    yield _event({"type": "content_block_stop", "index": index}, "content_block_stop")


# --- Gemini ---------------------------------------------------------------------------------


def _gemini(body: Mapping[str, Any], include_usage: bool) -> StreamScript:
    usage = body["usageMetadata"]
    head = {"modelVersion": body["modelVersion"], "responseId": body["responseId"]}
    partial_usage = {
        "promptTokenCount": usage["promptTokenCount"],
        "totalTokenCount": usage["promptTokenCount"],
    }
    events = []
    for candidate in body["candidates"]:
        for parts in _gemini_parts(candidate["content"]["parts"]):
            content = {"parts": parts, "role": "model"}
            event = {"candidates": [{"content": content, "index": candidate["index"]}]}
            events.append(_event({**event, "usageMetadata": partial_usage, **head}, newline="\r\n"))
    last_candidates = [
        {
            "content": {"parts": [{"text": ""}], "role": "model"},
            "finishReason": candidate["finishReason"],
            "index": candidate["index"],
        }
        for candidate in body["candidates"]
    ]
    last = {"candidates": last_candidates, "usageMetadata": usage, **head}
    malformed = b'data: {"candidates": [{"content": {"parts": [{"te\r\n\r\n'
    return StreamScript(tuple(events), (_event(last, newline="\r\n"),), malformed)


def _gemini_parts(parts: list[Mapping[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    """Text parts cut into pieces; a functionCall part whole, as Gemini streams it."""
    for part in parts:
        if isinstance(part.get("text"), str):
            for piece in pieces(part["text"]):
                yield [{**part, "text": piece}]
        else:
            yield [dict(part)]


# --- Cohere ---------------------------------------------------------------------------------


def _cohere(body: Mapping[str, Any], include_usage: bool) -> StreamScript:
    message = body["message"]
    start_message = {
        "role": "assistant",
        "content": [],
        "tool_plan": "",
        "tool_calls": [],
        "citations": [],
    }
    events = [
        _event(
            {"id": body["id"], "type": "message-start", "delta": {"message": start_message}},
            "message-start",
        )
    ]
    if message.get("tool_plan"):
        for piece in pieces(message["tool_plan"]):
            plan = {"type": "tool-plan-delta", "delta": {"message": {"tool_plan": piece}}}
            events.append(_event(plan, "tool-plan-delta"))
    for position, call in enumerate(message.get("tool_calls") or ()):
        events.extend(_cohere_call(position, call))
    for index, part in enumerate(message.get("content") or ()):
        events.extend(_cohere_text(index, str(part.get("text") or "")))
    end = {
        "type": "message-end",
        "delta": {"finish_reason": body["finish_reason"], "usage": body["usage"]},
    }
    malformed = b'event: content-delta\ndata: {"type": "content-delta", "delta": {"mess\n\n'
    return StreamScript(tuple(events), (_event(end, "message-end"),), malformed)


def _cohere_call(position: int, call: Mapping[str, Any]) -> Iterator[bytes]:
    function = call["function"]
    opened = {
        "id": call["id"],
        "type": "function",
        "function": {"name": function["name"], "arguments": ""},
    }
    yield _event(
        {
            "type": "tool-call-start",
            "index": position,
            "delta": {"message": {"tool_calls": opened}},
        },
        "tool-call-start",
    )
    for piece in pieces(function["arguments"]):
        fragment = {"function": {"arguments": piece}}
        yield _event(
            {
                "type": "tool-call-delta",
                "index": position,
                "delta": {"message": {"tool_calls": fragment}},
            },
            "tool-call-delta",
        )
    yield _event({"type": "tool-call-end", "index": position}, "tool-call-end")


def _cohere_text(index: int, text: str) -> Iterator[bytes]:
    opened = {"message": {"content": {"type": "text", "text": ""}}}
    yield _event({"type": "content-start", "index": index, "delta": opened}, "content-start")
    for piece in pieces(text):
        delta = {"message": {"content": {"text": piece}}}
        yield _event({"type": "content-delta", "index": index, "delta": delta}, "content-delta")
    yield _event({"type": "content-end", "index": index}, "content-end")


_RENDERERS: Mapping[str, Callable[[Mapping[str, Any], bool], StreamScript]] = {
    "openai": _openai,
    "azure": _openai,
    "anthropic": _anthropic,
    "gemini": _gemini,
    "cohere": _cohere,
}
