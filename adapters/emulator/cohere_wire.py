"""Cohere's Chat v2 wire format as the emulator speaks it (``POST /{provider}/v2/chat``).

Shapes follow cohere-python (``v2/types/v2chat_response.py``, ``types/usage.py``,
``types/assistant_message_response.py``) and https://docs.cohere.com/reference/errors: error
bodies are ``{"message": ...}``, a missing or bad key answers 401 ``invalid api token``.
``usage.tokens`` counts the whole prompt the emulator estimates; ``usage.billed_units`` counts
only the messages' own text (Cohere bills fewer tokens than its template adds up to).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from adapters.emulator.content import (
    MESSAGE_OVERHEAD_TOKENS,
    PROMPT_OVERHEAD_TOKENS,
    Message,
    Prompt,
    Reply,
    ReplyChoice,
    ToolSpec,
)
from adapters.emulator.faults import FaultRule
from adapters.emulator.wire import (
    Answer,
    CallMeta,
    Parsed,
    call_texts,
    first_problem,
    named_model,
    openai_tool_calls,
)

__all__ = ["CohereWire", "cohere_error"]

_INVALID_TOKEN = "invalid api token"

# Cohere's finish reasons for the emulator's three (cohere-python types/chat_finish_reason.py)
_FINISH_REASONS: dict[str, str] = {
    "stop": "COMPLETE",
    "length": "MAX_TOKENS",
    "tool_calls": "TOOL_CALL",
}

# fault error_code (the emulator's OpenAI-style names) -> (status, Cohere's message)
_CODE_ANSWERS: dict[str, tuple[int | None, str]] = {
    "context_length_exceeded": (
        400,
        "too many tokens: size limit exceeded by 11326 tokens. Try using shorter or fewer "
        "inputs, or setting prompt_truncation='AUTO'.",
    ),
    "insufficient_quota": (
        None,
        "You are using a Trial key, which is limited to 1000 API calls / month. You can "
        "continue to use the Trial key for free or upgrade to a Production key.",
    ),
    "invalid_api_key": (401, _INVALID_TOKEN),
    "model_not_found": (
        404,
        "model '{model}' not found, make sure the correct model ID was used and that you "
        "have access to the model.",
    ),
}

# the message an error status carries when the fault rule names no code
_STATUS_MESSAGES: dict[int, str] = {
    400: "invalid request: the request could not be processed.",
    401: _INVALID_TOKEN,
    402: "Please add or update your payment method at https://dashboard.cohere.com/billing",
    404: "model '{model}' not found, make sure the correct model ID was used and that you "
    "have access to the model.",
    429: "You are past the per minute request limit, please wait and try again later.",
    498: "invalid api token",
    499: "request cancelled",
    500: "internal server error, this has been reported to our developers",
    503: "service unavailable",
    504: "request timed out",
}


class _Function(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str = Field(min_length=1)
    parameters: dict[str, Any] = Field(default_factory=dict)


class _Tool(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: Literal["function"] = "function"
    function: _Function


class _ResponseFormat(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: Literal["text", "json_object"]
    json_schema: dict[str, Any] | None = None


class _Message(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Literal["system", "user", "assistant", "tool"]
    content: str | list[dict[str, Any]] | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_plan: str | None = None
    tool_call_id: str | None = None


class _Request(BaseModel):
    """The fields the emulator checks (https://docs.cohere.com/reference/chat)."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1)
    messages: list[_Message] = Field(min_length=1)
    max_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0, le=1)
    p: float | None = Field(default=None, ge=0.01, le=0.99)
    stop_sequences: list[str] | None = Field(default=None, max_length=5)
    tools: list[_Tool] | None = None
    tool_choice: Literal["REQUIRED", "NONE"] | None = None
    response_format: _ResponseFormat | None = None


def cohere_error(status: int, message: str, headers: Mapping[str, str] | None = None) -> Answer:
    """An answer with Cohere's error body."""
    return Answer(status=status, body={"message": message}, headers=dict(headers or {}))


class CohereWire:
    """Cohere Chat v2: Bearer auth, one generation per call, v2 response and error bodies."""

    name = "cohere"

    def authenticate(self, headers: Mapping[str, str]) -> Answer | None:
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return None
        return cohere_error(401, _INVALID_TOKEN)

    def read(self, provider: str, body: bytes, path_params: Mapping[str, str]) -> Parsed:
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return Parsed(model=None, error=cohere_error(400, "invalid request: invalid json"))
        model = named_model(data)
        try:
            request = _Request.model_validate(data)
        except ValidationError as exc:
            return Parsed(model=model, error=_validation_answer(exc, data))
        return Parsed(model=request.model, prompt=_prompt_from(provider, request))

    def success(self, prompt: Prompt, reply: Reply, meta: CallMeta) -> Answer:
        choice = reply.choices[0]
        billed_input = reply.prompt_tokens - PROMPT_OVERHEAD_TOKENS
        billed_input -= MESSAGE_OVERHEAD_TOKENS * len(prompt.messages)
        body = {
            "id": _uuid_like(reply.digest),
            "finish_reason": _FINISH_REASONS[choice.finish_reason],
            "message": _render_message(choice),
            "usage": {
                "billed_units": {
                    "input_tokens": max(0, billed_input),
                    "output_tokens": reply.completion_tokens,
                },
                "tokens": {
                    "input_tokens": reply.prompt_tokens,
                    "output_tokens": reply.completion_tokens,
                },
                "cached_tokens": 0,
            },
        }
        return Answer(status=200, body=body, headers={"x-request-id": _uuid_like(reply.digest)})

    def fault(self, rule: FaultRule, model: str) -> Answer:
        status, message = _CODE_ANSWERS.get(rule.error_code or "", (None, ""))
        if status is None or rule.status is not None or rule.kind != "status":
            status = rule.answer_status
        message = rule.message or message or _STATUS_MESSAGES.get(status, "")
        message = message.format(model=model) or f"Emulated error {status}."
        headers: dict[str, str] = {}
        if rule.retry_after is not None:
            # Cohere documents no retry header; the emulator sends one only when a rule asks
            headers["retry-after"] = f"{rule.retry_after:g}"
        return cohere_error(status, message, headers)


def _validation_answer(exc: ValidationError, data: Any) -> Answer:
    if not isinstance(data, dict):
        return cohere_error(400, "invalid request: the body must be a JSON object.")
    return cohere_error(400, f"invalid request: {first_problem(exc, data)}")


def _prompt_from(provider: str, request: _Request) -> Prompt:
    response_format = request.response_format
    json_mode = response_format is not None and response_format.type == "json_object"
    return Prompt(
        provider=provider,
        model=request.model,
        messages=tuple(_message(message) for message in request.messages),
        tools=tuple(ToolSpec(t.function.name, t.function.parameters) for t in request.tools or ()),
        tool_choice=(request.tool_choice or "auto").lower(),
        max_tokens=request.max_tokens,
        json_mode=json_mode,
        json_schema=response_format.json_schema if response_format is not None else None,
    )


def _message(message: _Message) -> Message:
    texts: list[str] = []
    images = 0
    if isinstance(message.content, str):
        texts.append(message.content)
    for part in message.content if isinstance(message.content, list) else ():
        if part.get("type") == "image_url":
            images += 1
        elif isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif isinstance(part.get("document"), dict):
            texts.append(json.dumps(part["document"], sort_keys=True))
    if message.tool_plan:
        texts.append(message.tool_plan)
    texts.extend(call_texts(message.tool_calls))
    return Message(role=message.role, text="\n".join(texts), images=images)


def _render_message(choice: ReplyChoice) -> dict[str, Any]:
    if choice.tool_calls:
        names = ", ".join(call.name for call in choice.tool_calls)
        return {
            "role": "assistant",
            "tool_plan": f"I will call {names} to answer this.",
            "tool_calls": openai_tool_calls(choice.tool_calls),
        }
    return {"role": "assistant", "content": [{"type": "text", "text": choice.text or ""}]}


def _uuid_like(digest: str) -> str:
    """Cohere's ids are UUIDs: the digest laid out as one."""
    hexed = (digest * 2)[:32]
    return f"{hexed[:8]}-{hexed[8:12]}-{hexed[12:16]}-{hexed[16:20]}-{hexed[20:32]}"
