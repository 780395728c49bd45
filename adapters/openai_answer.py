"""Reading an OpenAI chat.completion (and the compatible vendors' answers) into cascade's
``ParsedResponse``: its choices, their messages and tool calls, and its usage.

Shapes: https://platform.openai.com/docs/api-reference/chat/object, as summarised in
shared/reference/provider-formats.md section 1. A vendor's departures come in its
``CompatQuirks`` (``adapters/openai_quirks.py``).
"""

from __future__ import annotations

import json
from typing import Any

from adapters.base import AdapterTarget, ParsedResponse
from adapters.errors import ServerError
from adapters.finish_reasons import FinishReason, finish_reason_from
from adapters.json_values import count, dig
from adapters.openai_quirks import OPENAI_QUIRKS, CompatQuirks
from broker.jobs import Choice, ResponseMessage, ToolCall, Usage

__all__ = ["parsed_response", "tool_calls_from", "usage_from"]


def parsed_response(
    payload: dict[str, Any], target: AdapterTarget, quirks: CompatQuirks
) -> ParsedResponse:
    """The answer in ``payload`` (a JSON object with a ``choices`` list); ServerError, or
    pydantic's ValidationError, when it is not a well-formed one."""
    choices = [
        _choice(raw, position, quirks) for position, raw in enumerate(payload["choices"])
    ]
    if not choices:
        raise ServerError("the answer has no choices")
    fingerprint = payload.get("system_fingerprint")
    created = payload.get("created")
    return ParsedResponse(
        id=str(payload.get("id") or ""),
        model=str(payload.get("model") or target.model_id),
        created=created if isinstance(created, int) else 0,
        choices=choices,
        usage=usage_from(payload.get("usage"), quirks),
        system_fingerprint=fingerprint if isinstance(fingerprint, str) else None,
    )


def _choice(raw: Any, position: int, quirks: CompatQuirks) -> Choice:
    if not isinstance(raw, dict) or not isinstance(raw.get("message"), dict):
        raise ServerError(f"choice {position} has no message object")
    native = raw.get("finish_reason")
    if isinstance(native, str) and native in quirks.error_finish_reasons:
        raise ServerError(f"the generation failed: finish_reason {native!r}")
    message: dict[str, Any] = raw["message"]
    tool_calls = tool_calls_from(message.get("tool_calls"))
    unknown: FinishReason = "tool_calls" if tool_calls else "stop"
    index = raw.get("index")
    return Choice(
        index=index if isinstance(index, int) else position,
        message=ResponseMessage(
            content=_content(message.get("content")),
            tool_calls=tool_calls,
            refusal=message.get("refusal"),
        ),
        finish_reason=finish_reason_from(quirks.finish_reasons, native, unknown=unknown),
        logprobs=raw["logprobs"] if isinstance(raw.get("logprobs"), dict) else None,
    )


def _content(raw: Any) -> str | None:
    """Text content; a list of parts (some compatible vendors) is joined from its text parts."""
    if raw is None or isinstance(raw, str):
        return raw
    if isinstance(raw, list):
        texts = [part["text"] for part in raw if isinstance(part, dict) and "text" in part]
        return "".join(str(text) for text in texts)
    raise ServerError(f"message content is a {type(raw).__name__}, not text")


def tool_calls_from(raw: Any, *, check_type: bool = True) -> list[ToolCall] | None:
    """A message's ``tool_calls`` in OpenAI's shape (Cohere v2 answers use it too).

    ServerError when they are not a list of calls with a function object; pydantic's
    ValidationError when a call lacks an id or a name, or (``check_type``) its ``type`` is
    not "function". Cohere's reader passes ``check_type=False``: its type is not checked.
    """
    if not raw:
        return None
    if not isinstance(raw, list):
        raise ServerError("message tool_calls is not a list")
    return [_tool_call(item, check_type) for item in raw]


def _tool_call(raw: Any, check_type: bool) -> ToolCall:
    function = raw.get("function") if isinstance(raw, dict) else None
    if not isinstance(function, dict):
        raise ServerError("a tool call has no function object")
    arguments = function.get("arguments")
    if not isinstance(arguments, str):
        # OpenAI sends a JSON string; some compatible servers send the object itself
        arguments = json.dumps(arguments if arguments is not None else {})
    # only the fields cascade knows: vendors add their own (index, extra_content)
    return ToolCall.model_validate(
        {
            "id": raw.get("id"),
            "type": raw.get("type", "function") if check_type else "function",
            "function": {"name": function.get("name"), "arguments": arguments},
        }
    )


def usage_from(raw: Any, quirks: CompatQuirks = OPENAI_QUIRKS) -> Usage:
    """An OpenAI usage object (an answer's or a stream's last chunk) as cascade's Usage:
    prompt_tokens includes cached, completion_tokens includes reasoning."""
    if not isinstance(raw, dict):
        return Usage()
    prompt = count(raw.get("prompt_tokens"))
    completion = count(raw.get("completion_tokens"))
    return Usage(
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=count(raw.get("total_tokens")) or prompt + completion,
        cached_tokens=count(dig(raw, quirks.cached_tokens_path)),
        reasoning_tokens=count(dig(raw, quirks.reasoning_tokens_path)),
    )

