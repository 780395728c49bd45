"""Anthropic's Messages API (``POST /v1/messages``) as the emulator speaks it.

Requests need ``x-api-key`` (401 ``authentication_error`` otherwise) and ``anthropic-version``
(400), and a body with ``model``, ``messages`` and ``max_tokens``. Answers are Messages
(``msg_...`` ids, content blocks, ``stop_reason``, usage with the two cache counters at 0);
errors use Anthropic's body ``{"type": "error", "error": {"type", "message"}, "request_id"}``.

A user turn made of ``tool_result`` blocks reaches the reply generator as a ``tool`` message,
so a model given tools calls one after a user question and answers in text after the result,
as the OpenAI wire does. Fault rules written for the OpenAI wire keep their meaning here: their
OpenAI error codes (``insufficient_quota``, ``context_length_exceeded``, ...) become the
Anthropic error that says the same thing.

Shapes follow anthropic-sdk-python (``types/message.py``, ``types/usage.py``,
``types/shared/error_response.py``) and https://docs.claude.com/en/api/errors, as summarised
in /work/shared/reference/provider-formats.md section 3.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from adapters.emulator.anthropic_request import MessagesRequest, RequestMessage, TextBlock
from adapters.emulator.content import (
    Message,
    Prompt,
    Reply,
    ReplyChoice,
    ToolSpec,
    prefill_of,
    short_hash,
)
from adapters.emulator.faults import FaultRule
from adapters.emulator.wire import (
    Answer,
    CallMeta,
    Parsed,
    first_problem,
    named_model,
    retry_after_text,
)

__all__ = ["AnthropicWire", "anthropic_error_answer"]

REQUEST_LIMIT = 4_000
TOKEN_LIMIT = 2_000_000
RESET_WINDOW_S = 60

# cascade-side finish reason -> Anthropic stop_reason
_STOP_REASONS: dict[str, str] = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
}

# HTTP status -> Anthropic error type (https://docs.claude.com/en/api/errors)
_STATUS_TYPES: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    502: "api_error",
    503: "overloaded_error",
    504: "timeout_error",
    529: "overloaded_error",
}

_DEFAULT_MESSAGES: dict[str, str] = {
    "invalid_request_error": "Invalid request.",
    "authentication_error": "invalid x-api-key",
    "billing_error": "Your credit balance is too low to access the Anthropic API.",
    "permission_error": "Your API key does not have permission to use the specified resource.",
    "not_found_error": "model: {model}",
    "request_too_large": "Request exceeds the maximum allowed number of bytes.",
    "rate_limit_error": (
        "This request would exceed the rate limit for your organization of 4,000 requests "
        "per minute. For details, refer to: https://docs.claude.com/en/api/rate-limits."
    ),
    "api_error": "Internal server error",
    "overloaded_error": "Overloaded",
    "timeout_error": "Request timed out",
}


@dataclass(frozen=True, slots=True)
class _Translated:
    """What an error code of a fault rule means here: status, type, message, details code."""

    status: int
    error_type: str
    message: str
    details_code: str | None = None


# error codes of fault rules (OpenAI's, Anthropic's error types and details codes)
_CODES: dict[str, _Translated] = {
    "invalid_api_key": _Translated(
        status=401, error_type="authentication_error", message="invalid x-api-key"
    ),
    "model_not_found": _Translated(
        status=404, error_type="not_found_error", message="model: {model}"
    ),
    "context_length_exceeded": _Translated(
        status=400,
        error_type="invalid_request_error",
        message="prompt is too long: 208656 tokens > 200000 maximum",
    ),
    "insufficient_quota": _Translated(
        status=429,
        error_type="rate_limit_error",
        message="You have reached your API usage limit for this month.",
        details_code="enforced_spend_limit_reached",
    ),
    "enforced_spend_limit_reached": _Translated(
        status=429,
        error_type="rate_limit_error",
        message="You have reached your API usage limit for this month.",
        details_code="enforced_spend_limit_reached",
    ),
    "usage_limits": _Translated(
        status=400,
        error_type="invalid_request_error",
        message=(
            "You have reached your specified API usage limits. "
            "You will regain access on 2026-01-01 at 00:00 UTC."
        ),
    ),
    "credit_balance": _Translated(
        status=400,
        error_type="invalid_request_error",
        message=(
            "Your credit balance is too low to access the Anthropic API. "
            "Please go to Plans & Billing to upgrade or purchase credits."
        ),
    ),
}

# codes that say "stop asking": no retry-after unless the rule sets one
_NO_RETRY_CODES = frozenset({"insufficient_quota", "enforced_spend_limit_reached"})


def anthropic_error_answer(
    status: int,
    error_type: str,
    message: str,
    *,
    details_code: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Answer:
    """An answer with Anthropic's error body."""
    error: dict[str, Any] = {"type": error_type, "message": message}
    if details_code is not None:
        error["details"] = {"error_code": details_code}
    request_id = f"req_{short_hash(str(status), error_type, message, length=24)}"
    body = {"type": "error", "error": error, "request_id": request_id}
    return Answer(
        status=status, body=body, headers={"request-id": request_id, **dict(headers or {})}
    )


class AnthropicWire:
    """Anthropic's Messages API."""

    name = "anthropic"

    def authenticate(self, headers: Mapping[str, str]) -> Answer | None:
        if not headers.get("x-api-key", "").strip():
            return anthropic_error_answer(
                401, "authentication_error", "x-api-key header is required"
            )
        if not headers.get("anthropic-version", "").strip():
            return anthropic_error_answer(
                400, "invalid_request_error", "anthropic-version: header is required"
            )
        return None

    def read(self, provider: str, body: bytes, path_params: Mapping[str, str]) -> Parsed:
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return Parsed(
                model=None,
                error=anthropic_error_answer(
                    400, "invalid_request_error", "The request body is not valid JSON."
                ),
            )
        model = named_model(data)
        try:
            request = MessagesRequest.model_validate(data)
        except ValidationError as exc:
            return Parsed(model=model, error=_validation_answer(exc, data))
        prompt = _prompt_from(provider, request)
        if prompt.prefill is not None and prompt.prefill != prompt.prefill.rstrip():
            # Anthropic's own words for a prefill that ends in whitespace
            message = "messages: final assistant content cannot end with trailing whitespace"
            error = anthropic_error_answer(400, "invalid_request_error", message)
            return Parsed(model=request.model, error=error)
        return Parsed(model=request.model, prompt=prompt)

    def success(self, prompt: Prompt, reply: Reply, meta: CallMeta) -> Answer:
        choice = reply.choices[0]
        body = {
            "id": f"msg_{reply.digest}",
            "type": "message",
            "role": "assistant",
            "model": prompt.model,
            "content": _content(choice),
            "stop_reason": _STOP_REASONS.get(choice.finish_reason, "end_turn"),
            "stop_sequence": None,
            "usage": {
                "input_tokens": reply.prompt_tokens,
                "output_tokens": choice.completion_tokens,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
                "service_tier": "standard",
            },
        }
        return Answer(status=200, body=body, headers=_success_headers(reply, meta))

    def fault(self, rule: FaultRule, model: str) -> Answer:
        translated = _translate(rule)
        headers = _retry_headers(rule, translated)
        message = rule.message or translated.message.format(model=model)
        return anthropic_error_answer(
            translated.status,
            translated.error_type,
            message,
            details_code=translated.details_code,
            headers=headers,
        )


def _translate(rule: FaultRule) -> _Translated:
    """The status, type and message for a rule: its code decides, else its status."""
    status = rule.answer_status
    code = rule.error_code
    if code in _CODES:
        found = _CODES[code]
        # a rule that names its status keeps it (a 400 "insufficient_quota" stays a 400)
        return found if rule.status is None else replace(found, status=status)
    if code is not None and code in _DEFAULT_MESSAGES:  # an Anthropic error type
        return _Translated(status=status, error_type=code, message=_DEFAULT_MESSAGES[code])
    error_type = _STATUS_TYPES.get(status, "invalid_request_error" if status < 500 else "api_error")
    return _Translated(status=status, error_type=error_type, message=_DEFAULT_MESSAGES[error_type])


def _retry_headers(rule: FaultRule, translated: _Translated) -> dict[str, str]:
    """``retry-after`` in whole seconds, as Anthropic sends it on a 429, when due."""
    seconds = rule.retry_after
    quota = rule.error_code in _NO_RETRY_CODES or translated.details_code is not None
    if seconds is None and translated.status == 429 and not quota:
        seconds = 1.0
    if seconds is None:
        return {}
    return {"retry-after": retry_after_text(seconds)}


def _validation_answer(exc: ValidationError, data: Any) -> Answer:
    """A 400 naming the first bad field as Anthropic does: ``max_tokens: Field required``."""
    if not isinstance(data, dict):
        return anthropic_error_answer(
            400, "invalid_request_error", "The request body must be a JSON object."
        )
    return anthropic_error_answer(400, "invalid_request_error", first_problem(exc, data))


# --- reading the request -----------------------------------------------------------------


def _prompt_from(provider: str, request: MessagesRequest) -> Prompt:
    choice = request.tool_choice
    tool_choice = {"auto": "auto", "any": "required", "none": "none", "tool": "function"}.get(
        choice.type if choice is not None else "auto", "auto"
    )
    output_format = request.output_config.format if request.output_config is not None else None
    messages = [*_system(request.system), *(_message(m) for m in request.messages)]
    return Prompt(
        provider=provider,
        model=request.model,
        messages=tuple(messages),
        tools=tuple(ToolSpec(t.name, t.input_schema) for t in request.tools or ()),
        tool_choice=tool_choice,
        forced_tool=choice.name if choice is not None else None,
        max_tokens=request.max_tokens,
        json_mode=output_format is not None,
        json_schema=output_format.schema_ if output_format is not None else None,
        prefill=prefill_of(messages),
    )


def _system(system: str | list[TextBlock] | None) -> list[Message]:
    if system is None:
        return []
    text = system if isinstance(system, str) else "\n".join(block.text for block in system)
    return [Message(role="system", text=text)]


def _message(message: RequestMessage) -> Message:
    """The turn's text (text blocks, tool calls, tool results) and its image count; a user
    turn of tool results is a ``tool`` message to the reply generator."""
    if isinstance(message.content, str):
        return Message(role=message.role, text=message.content)
    texts: list[str] = []
    images = 0
    results = 0
    for block in message.content:
        extra = block.model_extra or {}
        if block.type == "image":
            images += 1
        elif block.type == "text":
            texts.append(str(extra.get("text", "")))
        elif block.type == "tool_use":
            texts.append(f"{extra.get('name', '')}{json.dumps(extra.get('input', {}))}")
        elif block.type == "tool_result":
            results += 1
            texts.append(_result_text(extra.get("content")))
    role = "tool" if message.role == "user" and results else message.role
    return Message(role=role, text="\n".join(texts), images=images)


def _result_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return ""


# --- rendering the answer ----------------------------------------------------------------


def _content(choice: ReplyChoice) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    if choice.text:
        blocks.append({"type": "text", "text": choice.text})
    for call in choice.tool_calls:
        blocks.append(
            {
                "type": "tool_use",
                "id": "toolu_" + call.id.removeprefix("call_"),
                "name": call.name,
                "input": json.loads(call.arguments),
            }
        )
    return blocks


def _success_headers(reply: Reply, meta: CallMeta) -> dict[str, str]:
    # RFC 3339 like Anthropic's; computed from ``created`` so answers stay deterministic
    reset = datetime.fromtimestamp(meta.created + RESET_WINDOW_S, UTC).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    used_requests = (meta.call_number - 1) % REQUEST_LIMIT + 1
    used_tokens = reply.prompt_tokens + reply.completion_tokens
    return {
        "request-id": f"req_{short_hash(reply.digest, str(meta.call_number), length=24)}",
        "anthropic-ratelimit-requests-limit": str(REQUEST_LIMIT),
        "anthropic-ratelimit-requests-remaining": str(REQUEST_LIMIT - used_requests),
        "anthropic-ratelimit-requests-reset": reset,
        "anthropic-ratelimit-tokens-limit": str(TOKEN_LIMIT),
        "anthropic-ratelimit-tokens-remaining": str(max(0, TOKEN_LIMIT - used_tokens)),
        "anthropic-ratelimit-tokens-reset": reset,
    }
