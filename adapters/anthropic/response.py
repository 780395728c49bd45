"""An Anthropic Message read as an OpenAI chat.completion choice, with its usage.

Sources: anthropic-sdk-python ``types/message.py``, ``types/stop_reason.py`` and
``types/usage.py``; https://docs.claude.com/en/api/messages (provider-formats.md section 3.3).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from types import MappingProxyType
from typing import Any

from adapters.anthropic.request import JSON_TOOL_NAME
from adapters.base import AdapterTarget, ParsedResponse
from adapters.errors import ServerError
from adapters.finish_reasons import FinishReason, FinishReasonTable, finish_reason_from
from adapters.http_response import header_value
from adapters.json_values import count, dig
from broker.jobs import Choice, ResponseMessage, ToolCall, Usage

__all__ = ["FINISH_REASON_TABLE", "parsed_response", "usage_from"]

# https://docs.claude.com/en/api/messages (stop_reason); values from the SDK's StopReason.
# pause_turn: Anthropic paused a long server-tool turn and expects the conversation resent
# to continue it; the answer is incomplete, which OpenAI's vocabulary spells "length".
FINISH_REASON_TABLE: FinishReasonTable = MappingProxyType(
    {
        "end_turn": "stop",
        "stop_sequence": "stop",
        "max_tokens": "length",
        "tool_use": "tool_calls",
        "refusal": "content_filter",
        "pause_turn": "length",
        "model_context_window_exceeded": "length",
    }
)


def parsed_response(
    payload: dict[str, Any], headers: Mapping[str, str], target: AdapterTarget
) -> ParsedResponse:
    """A Message (its ``content`` already known to be a list) as a chat.completion."""
    return ParsedResponse(
        id=str(payload.get("id") or ""),
        model=str(payload.get("model") or target.model_id),
        created=_created(headers),
        choices=[_choice(payload)],
        usage=_usage(payload.get("usage")),
    )


def _choice(payload: dict[str, Any]) -> Choice:
    texts: list[str] = []
    calls: list[ToolCall] = []
    for block in payload["content"]:
        if not isinstance(block, dict):
            raise ServerError("a content block is not an object")
        kind = block.get("type")
        if kind == "text":
            texts.append(str(block.get("text") or ""))
        elif kind == "tool_use" and block.get("name") == JSON_TOOL_NAME:
            texts.append(json.dumps(block.get("input") or {}, ensure_ascii=False))
        elif kind == "tool_use":
            calls.append(_tool_call(block))
        # thinking, redacted_thinking and server-tool blocks carry nothing OpenAI's shape holds
    native = payload.get("stop_reason")
    unknown: FinishReason = "tool_calls" if calls else "stop"
    finish = finish_reason_from(FINISH_REASON_TABLE, native, unknown=unknown)
    if finish == "tool_calls" and not calls:
        finish = "stop"  # the only call was the reserved JSON tool: that is the answer
    return Choice(
        index=0,
        message=ResponseMessage(
            content="".join(texts) if texts else None, tool_calls=calls or None
        ),
        finish_reason=finish,
    )


def _tool_call(block: dict[str, Any]) -> ToolCall:
    identifier, name = block.get("id"), block.get("name")
    if not isinstance(identifier, str) or not identifier or not isinstance(name, str) or not name:
        raise ServerError("a tool_use block has no id or name")
    arguments = block.get("input")
    return ToolCall.model_validate(
        {
            "id": identifier,
            "type": "function",
            "function": {
                "name": name,
                "arguments": json.dumps(arguments if arguments is not None else {}),
            },
        }
    )


def _usage(raw: Any) -> Usage:
    """OpenAI's convention: Anthropic's input_tokens exclude cache reads and writes, so the
    prompt is their sum; cached_tokens are the cache reads; reasoning is thinking_tokens."""
    if not isinstance(raw, dict):
        return Usage()
    cache_read = count(raw.get("cache_read_input_tokens"))
    prompt = (
        count(raw.get("input_tokens"))
        + cache_read
        + count(raw.get("cache_creation_input_tokens"))
    )
    completion = count(raw.get("output_tokens"))
    return Usage(
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=prompt + completion,
        cached_tokens=cache_read,
        reasoning_tokens=count(dig(raw, ("output_tokens_details", "thinking_tokens"))),
    )


def _created(headers: Mapping[str, str]) -> int:
    """A Message has no timestamp: the response's Date header stands in (0 when absent)."""
    raw = header_value(headers, "date")
    if raw is None:
        return 0
    try:
        return int(parsedate_to_datetime(raw).timestamp())
    except (TypeError, ValueError, IndexError, OverflowError):
        return 0


def usage_from(raw: Any) -> Usage:
    """A Message's usage (or a stream's merged usage) in OpenAI's convention."""
    return _usage(raw)
