"""Streamed bodies as the providers document them, each with its source.

Values are the documented ones (ids, texts and counts shortened where the docs elide them);
each body is written as the bytes on the wire, SSE framing included.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = [
    "ANTHROPIC_OVERLOADED",
    "ANTHROPIC_TEXT",
    "ANTHROPIC_TOOL",
    "COHERE_TEXT",
    "COHERE_TOOL",
    "GEMINI_TEXT",
    "OPENAI_ERROR_LINE",
    "OPENAI_TEXT",
    "OPENAI_TOOL",
    "sse",
]


def sse(*events: tuple[str | None, Any], newline: str = "\n") -> bytes:
    """Events as SSE bytes: ``(event name or None, data object or raw string)``."""
    out = []
    for name, data in events:
        text = data if isinstance(data, str) else json.dumps(data)
        head = f"event: {name}{newline}" if name else ""
        out.append(f"{head}data: {text}{newline}{newline}")
    return "".join(out).encode("utf-8")


# https://platform.openai.com/docs/api-reference/chat-streaming/streaming (the chunk object) and
# https://platform.openai.com/docs/api-reference/chat/create (stream_options.include_usage: "an
# additional chunk ... with an empty choices array" before data: [DONE]).
_OPENAI_BASE = {
    "id": "chatcmpl-123",
    "object": "chat.completion.chunk",
    "created": 1694268190,
    "model": "gpt-4o-mini",
    "system_fingerprint": "fp_44709d6fcb",
}


def _openai(choices: list[dict[str, Any]], usage: Any = None) -> dict[str, Any]:
    return {**_OPENAI_BASE, "choices": choices, "usage": usage}


def _delta(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}


OPENAI_TEXT = sse(
    (None, _openai([_delta({"role": "assistant", "content": ""})])),
    (None, _openai([_delta({"content": "Hello"})])),
    (None, _openai([_delta({"content": "! How can I help?"})])),
    (None, _openai([_delta({}, "stop")])),
    (None, _openai([], {"prompt_tokens": 9, "completion_tokens": 12, "total_tokens": 21})),
    (None, "[DONE]"),
)

# https://platform.openai.com/docs/guides/function-calling#streaming: the first delta of a call
# carries its id and name, later ones only argument fragments (id and name null).
_TOOL_FIRST = {
    "index": 0,
    "id": "call_DdmO9pD3xa9XTPNJ32zg2hcA",
    "type": "function",
    "function": {"arguments": "", "name": "get_weather"},
}


def _fragment(text: str) -> dict[str, Any]:
    return {"index": 0, "id": None, "type": None, "function": {"arguments": text, "name": None}}


OPENAI_TOOL = sse(
    (None, _openai([_delta({"role": "assistant", "content": None, "tool_calls": [_TOOL_FIRST]})])),
    (None, _openai([_delta({"tool_calls": [_fragment('{"')]})])),
    (None, _openai([_delta({"tool_calls": [_fragment('location": "Paris, France"')]})])),
    (None, _openai([_delta({"tool_calls": [_fragment("}")]})])),
    (None, _openai([_delta({}, "tool_calls")])),
    (None, _openai([], {"prompt_tokens": 60, "completion_tokens": 17, "total_tokens": 77})),
    (None, "[DONE]"),
)

# openai-python src/openai/_streaming.py: a data line whose object has "error" raises APIError;
# the error object is OpenAI's usual one (https://platform.openai.com/docs/guides/error-codes).
OPENAI_ERROR_LINE = {
    "error": {
        "message": "The server had an error while processing your request. Sorry about that!",
        "type": "server_error",
        "param": None,
        "code": None,
    }
}

# https://docs.claude.com/en/docs/build-with-claude/streaming ("Basic streaming request").
_ANTHROPIC_START = {
    "type": "message_start",
    "message": {
        "id": "msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY",
        "type": "message",
        "role": "assistant",
        "content": [],
        "model": "claude-opus-4-1-20250805",
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 25, "output_tokens": 1},
    },
}
ANTHROPIC_TEXT = sse(
    ("message_start", _ANTHROPIC_START),
    (
        "content_block_start",
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    ),
    ("ping", {"type": "ping"}),
    (
        "content_block_delta",
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "text_delta", "text": "Hello"},
        },
    ),
    (
        "content_block_delta",
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "!"}},
    ),
    ("content_block_stop", {"type": "content_block_stop", "index": 0}),
    (
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {"output_tokens": 15},
        },
    ),
    ("message_stop", {"type": "message_stop"}),
)

# Same page, "Streaming request with tool use": a text block, then a tool_use block whose input
# arrives as input_json_delta fragments, stop_reason tool_use.
ANTHROPIC_TOOL = sse(
    ("message_start", _ANTHROPIC_START),
    (
        "content_block_start",
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    ),
    (
        "content_block_delta",
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "text_delta", "text": "Okay, let's check the weather."},
        },
    ),
    ("content_block_stop", {"type": "content_block_stop", "index": 0}),
    (
        "content_block_start",
        {
            "type": "content_block_start",
            "index": 1,
            "content_block": {
                "type": "tool_use",
                "id": "toolu_01T1x1fJ34qAmk2tNTrN7Up6",
                "name": "get_weather",
                "input": {},
            },
        },
    ),
    (
        "content_block_delta",
        {
            "type": "content_block_delta",
            "index": 1,
            "delta": {"type": "input_json_delta", "partial_json": ""},
        },
    ),
    (
        "content_block_delta",
        {
            "type": "content_block_delta",
            "index": 1,
            "delta": {"type": "input_json_delta", "partial_json": '{"location": "San Fra'},
        },
    ),
    (
        "content_block_delta",
        {
            "type": "content_block_delta",
            "index": 1,
            "delta": {"type": "input_json_delta", "partial_json": 'ncisco, CA"}'},
        },
    ),
    ("content_block_stop", {"type": "content_block_stop", "index": 1}),
    (
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": "tool_use", "stop_sequence": None},
            "usage": {"output_tokens": 89},
        },
    ),
    ("message_stop", {"type": "message_stop"}),
)

# Same page, "Error events": an overloaded_error mid-stream (HTTP 529 outside a stream).
ANTHROPIC_OVERLOADED = (
    "error",
    {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
)

# https://ai.google.dev/gemini-api/docs/text-generation#streaming-responses (REST, alt=sse):
# each event a GenerateContentResponse; the last one has finishReason and the final usage.
_GEMINI_USAGE = {"promptTokenCount": 8, "candidatesTokenCount": 20, "totalTokenCount": 28}
GEMINI_TEXT = sse(
    (
        None,
        {
            "candidates": [{"content": {"parts": [{"text": "The"}], "role": "model"}, "index": 0}],
            "usageMetadata": {"promptTokenCount": 8, "totalTokenCount": 8},
            "modelVersion": "gemini-2.0-flash",
            "responseId": "mAitaLmkHPPlz7IPvtfUqQc",
        },
    ),
    (
        None,
        {
            "candidates": [
                {
                    "content": {"parts": [{"text": " sky is blue."}], "role": "model"},
                    "finishReason": "STOP",
                    "index": 0,
                }
            ],
            "usageMetadata": _GEMINI_USAGE,
            "modelVersion": "gemini-2.0-flash",
            "responseId": "mAitaLmkHPPlz7IPvtfUqQc",
        },
    ),
    newline="\r\n",
)

# https://docs.cohere.com/v2/docs/streaming ("Basic Chat Stream Events").
_COHERE_USAGE = {
    "billed_units": {"input_tokens": 5, "output_tokens": 8},
    "tokens": {"input_tokens": 71, "output_tokens": 8},
}
_COHERE_START = {
    "id": "29f14a5a-11de-4cae-9800-25e4747408ea",
    "type": "message-start",
    "delta": {
        "message": {
            "role": "assistant",
            "content": [],
            "tool_plan": "",
            "tool_calls": [],
            "citations": [],
        }
    },
}
COHERE_TEXT = sse(
    ("message-start", _COHERE_START),
    (
        "content-start",
        {
            "type": "content-start",
            "index": 0,
            "delta": {"message": {"content": {"type": "text", "text": ""}}},
        },
    ),
    (
        "content-delta",
        {"type": "content-delta", "index": 0, "delta": {"message": {"content": {"text": "A"}}}},
    ),
    (
        "content-delta",
        {
            "type": "content-delta",
            "index": 0,
            "delta": {"message": {"content": {"text": " large language model"}}},
        },
    ),
    ("content-end", {"type": "content-end", "index": 0}),
    (
        "message-end",
        {"type": "message-end", "delta": {"finish_reason": "COMPLETE", "usage": _COHERE_USAGE}},
    ),
)

# https://docs.cohere.com/docs/tool-use-streaming ("Tool calling step").
COHERE_TOOL = sse(
    ("message-start", _COHERE_START),
    (
        "tool-plan-delta",
        {"type": "tool-plan-delta", "delta": {"message": {"tool_plan": "I will search"}}},
    ),
    (
        "tool-call-start",
        {
            "type": "tool-call-start",
            "index": 0,
            "delta": {
                "message": {
                    "tool_calls": {
                        "id": "get_weather_nsz5zm3w56q3",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": ""},
                    }
                }
            },
        },
    ),
    (
        "tool-call-delta",
        {
            "type": "tool-call-delta",
            "index": 0,
            "delta": {"message": {"tool_calls": {"function": {"arguments": '{"location": '}}}},
        },
    ),
    (
        "tool-call-delta",
        {
            "type": "tool-call-delta",
            "index": 0,
            "delta": {"message": {"tool_calls": {"function": {"arguments": '"Toronto"}'}}}},
        },
    ),
    ("tool-call-end", {"type": "tool-call-end", "index": 0}),
    (
        "message-end",
        {"type": "message-end", "delta": {"finish_reason": "TOOL_CALL", "usage": _COHERE_USAGE}},
    ),
)
