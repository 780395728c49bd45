"""The OpenAI chat-completions wire format as the emulator speaks it (OpenAI-compatible vendors
and Azure's deployment path too).

Shapes follow openai/openai-openapi (``CreateChatCompletionRequest``,
``CreateChatCompletionResponse``, ``ErrorResponse``) and the error bodies real clients report (see
/work/shared/reference/provider-formats.md, sections 1.2, 1.3 and 0.3).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from adapters.emulator.content import (
    Message,
    Prompt,
    Reply,
    ReplyChoice,
    ToolSpec,
    short_hash,
)
from adapters.emulator.faults import FaultRule
from adapters.emulator.logprobs import openai_logprobs
from adapters.emulator.wire import (
    Answer,
    CallMeta,
    Parsed,
    call_texts,
    first_problem,
    named_model,
    openai_tool_calls,
    retry_after_text,
)

__all__ = ["OpenAIWire", "error_answer", "not_found_answer"]

REQUEST_LIMIT = 10_000
TOKEN_LIMIT = 30_000_000

_INVALID_KEY_MESSAGE = (
    "Incorrect API key provided. You can find your API key at "
    "https://platform.openai.com/account/api-keys."
)

# error code -> (type, param, message); ``{model}`` is filled in
_CODE_DEFAULTS: dict[str, tuple[str, str | None, str]] = {
    "invalid_api_key": ("invalid_request_error", None, _INVALID_KEY_MESSAGE),
    "model_not_found": (
        "invalid_request_error",
        "model",
        "The model `{model}` does not exist or you do not have access to it.",
    ),
    "context_length_exceeded": (
        "invalid_request_error",
        "messages",
        "This model's maximum context length is 128000 tokens. However, your messages "
        "resulted in 131072 tokens. Please reduce the length of the messages.",
    ),
    "rate_limit_exceeded": (
        "requests",
        None,
        "Rate limit reached for {model} on requests per min (RPM): Limit 10000, Used 10000, "
        "Requested 1. Please try again in {retry}.",
    ),
    "insufficient_quota": (
        "insufficient_quota",
        None,
        "You exceeded your current quota, please check your plan and billing details.",
    ),
    "server_error": (
        "server_error",
        None,
        "The server had an error while processing your request. Sorry about that!",
    ),
    "bad_gateway": ("server_error", None, "Bad gateway."),
    "server_is_overloaded": (
        "service_unavailable_error",
        None,
        "The server is overloaded or not ready yet.",
    ),
    "timeout": ("server_error", None, "Request timed out."),
    "unsupported_country_region_territory": (
        "request_forbidden",
        None,
        "Country, region, or territory not supported",
    ),
}

# the code an error status carries when the fault rule names none
_STATUS_CODES: dict[int, str | None] = {
    400: None,
    401: "invalid_api_key",
    403: "unsupported_country_region_territory",
    404: "model_not_found",
    429: "rate_limit_exceeded",
    500: "server_error",
    502: "bad_gateway",
    503: "server_is_overloaded",
    504: "timeout",
}

# codes that say "stop asking": no retry-after unless the rule sets one
_NO_RETRY_CODES = frozenset({"insufficient_quota"})


class _ToolFunction(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str = Field(min_length=1, max_length=64)
    parameters: dict[str, Any] = Field(default_factory=dict)


class _Tool(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: Literal["function"] = "function"
    function: _ToolFunction


class _NamedFunction(BaseModel):
    name: str = Field(min_length=1)


class _NamedToolChoice(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: Literal["function"] = "function"
    function: _NamedFunction


class _JsonSchema(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str = Field(min_length=1, max_length=64)
    schema_: dict[str, Any] = Field(default_factory=dict, alias="schema")


class _ResponseFormat(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: Literal["text", "json_object", "json_schema"]
    json_schema: _JsonSchema | None = None


class _Message(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Literal["developer", "system", "user", "assistant", "tool", "function"]
    content: str | list[dict[str, Any]] | None = None
    tool_calls: list[dict[str, Any]] | None = None


class _Request(BaseModel):
    """The fields the emulator checks; everything else is accepted and ignored."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1)
    messages: list[_Message] = Field(min_length=1)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    n: int = Field(default=1, ge=1, le=128)
    tools: list[_Tool] | None = None
    tool_choice: Literal["none", "auto", "required"] | _NamedToolChoice | None = None
    response_format: _ResponseFormat | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = Field(default=None, ge=0, le=20)


def error_answer(
    status: int,
    message: str,
    *,
    error_type: str = "invalid_request_error",
    param: str | None = None,
    code: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Answer:
    """An answer with OpenAI's error body (all four keys present, as the spec requires)."""
    body = {"error": {"message": message, "type": error_type, "param": param, "code": code}}
    return Answer(status=status, body=body, headers=dict(headers or {}))


def not_found_answer(method: str, path: str) -> Answer:
    """OpenAI's answer to a path it does not serve."""
    return error_answer(404, f"Invalid URL ({method} {path})")


class OpenAIWire:
    """OpenAI's chat completions; ``azure`` reads the model from the deployment path and
    accepts Azure's ``api-key`` header as well as a bearer token."""

    def __init__(self, *, azure: bool = False) -> None:
        self.azure = azure
        self.name = "azure" if azure else "openai"

    def authenticate(self, headers: Mapping[str, str]) -> Answer | None:
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return None
        if self.azure and headers.get("api-key", "").strip():
            return None
        return error_answer(401, _INVALID_KEY_MESSAGE, code="invalid_api_key")

    def read(self, provider: str, body: bytes, path_params: Mapping[str, str]) -> Parsed:
        path_model = path_params.get("model") if self.azure else None
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            message = "We could not parse the JSON body of your request: send a JSON object."
            return Parsed(model=path_model, error=error_answer(400, message))
        if path_model is not None and isinstance(data, dict):
            data = {**data, "model": path_model}
        model = named_model(data)
        try:
            request = _Request.model_validate(data)
        except ValidationError as exc:
            return Parsed(model=model, error=_validation_answer(exc, data))
        if provider == "mistral" and (bad := _foreign_tool_call_id(request)) is not None:
            # Mistral refuses tool-call ids that are not 9 alphanumerics (provider-formats.md
            # §8.3), which is what breaks a tool conversation rerouted from another vendor.
            message = f"Tool call id was {bad} but must be a-z, A-Z, 0-9, with a length of 9."
            return Parsed(model=request.model, error=error_answer(400, message))
        return Parsed(model=request.model, prompt=_prompt_from(provider, request))

    def success(self, prompt: Prompt, reply: Reply, meta: CallMeta) -> Answer:
        body = {
            "id": f"chatcmpl-{reply.digest}",
            "object": "chat.completion",
            "created": meta.created,
            "model": prompt.model,
            "choices": [_render_choice(choice, prompt.logprobs) for choice in reply.choices],
            "usage": {
                "prompt_tokens": reply.prompt_tokens,
                "completion_tokens": reply.completion_tokens,
                "total_tokens": reply.prompt_tokens + reply.completion_tokens,
                "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                "completion_tokens_details": {
                    "reasoning_tokens": 0,
                    "audio_tokens": 0,
                    "accepted_prediction_tokens": 0,
                    "rejected_prediction_tokens": 0,
                },
            },
            "service_tier": "default",
            "system_fingerprint": f"fp_{short_hash(prompt.provider, prompt.model, length=10)}",
        }
        return Answer(status=200, body=body, headers=_success_headers(reply, meta))

    def fault(self, rule: FaultRule, model: str) -> Answer:
        status = rule.answer_status
        code = rule.error_code if rule.error_code is not None else _STATUS_CODES.get(status)
        error_type, param, message = _CODE_DEFAULTS.get(
            code or "", ("invalid_request_error" if status < 500 else "server_error", None, "")
        )
        headers = _retry_headers(rule, code)
        retry = f"{headers['retry-after']}s" if "retry-after" in headers else "a moment"
        message = rule.message or message.format(model=model, retry=retry)
        message = message or f"Emulated error {status}."
        return error_answer(
            status, message, error_type=error_type, param=param, code=code, headers=headers
        )


def _validation_answer(exc: ValidationError, data: Any) -> Answer:
    """A 400 naming the first bad field the way OpenAI's ``param`` does."""
    if not isinstance(data, dict):
        return error_answer(400, "The request body must be a JSON object.")
    param, _, problem = first_problem(exc, data).partition(": ")
    param = "" if param == "(root)" else param
    message = f"Invalid value for '{param}': {problem}" if param else problem
    return error_answer(400, message, param=param or None)


_MISTRAL_TOOL_ID = re.compile(r"^[A-Za-z0-9]{9}$")


def _foreign_tool_call_id(request: _Request) -> str | None:
    """The first tool-call id in the history that Mistral would refuse, if any."""
    for message in request.messages:
        ids = [str(call.get("id", "")) for call in message.tool_calls or []]
        extra = message.model_extra or {}
        if message.role == "tool":
            ids.append(str(extra.get("tool_call_id", "")))
        for found in ids:
            if not _MISTRAL_TOOL_ID.match(found):
                return found
    return None


def _prompt_from(provider: str, request: _Request) -> Prompt:
    tool_choice, forced = _tool_choice(request)
    response_format = request.response_format
    json_schema = None
    if response_format is not None and response_format.json_schema is not None:
        json_schema = response_format.json_schema.schema_
    return Prompt(
        provider=provider,
        model=request.model,
        messages=tuple(_message(m) for m in request.messages),
        tools=tuple(ToolSpec(t.function.name, t.function.parameters) for t in request.tools or ()),
        tool_choice=tool_choice,
        forced_tool=forced,
        max_tokens=request.max_completion_tokens or request.max_tokens,
        n=request.n,
        json_mode=response_format is not None and response_format.type != "text",
        json_schema=json_schema,
        logprobs=(request.top_logprobs or 0) if request.logprobs else None,
    )


def _tool_choice(request: _Request) -> tuple[str, str | None]:
    choice = request.tool_choice
    if isinstance(choice, _NamedToolChoice):
        return "function", choice.function.name
    return choice or "auto", None


def _message(message: _Message) -> Message:
    """The text a message carries (text parts and tool-call arguments) and its image count."""
    texts: list[str] = []
    images = 0
    if isinstance(message.content, str):
        texts.append(message.content)
    for part in message.content if isinstance(message.content, list) else ():
        if part.get("type") == "image_url":
            images += 1
        elif isinstance(part.get("text"), str):
            texts.append(part["text"])
    texts.extend(call_texts(message.tool_calls))
    return Message(role=message.role, text="\n".join(texts), images=images)


def _render_choice(choice: ReplyChoice, logprobs: int | None) -> dict[str, Any]:
    message: dict[str, Any] = {
        "role": "assistant",
        "content": choice.text,
        "refusal": None,
        "annotations": [],
    }
    if choice.tool_calls:
        message["tool_calls"] = openai_tool_calls(choice.tool_calls)
    return {
        "index": choice.index,
        "message": message,
        "logprobs": None if logprobs is None else openai_logprobs(choice.text or "", logprobs),
        "finish_reason": choice.finish_reason,
    }


def _success_headers(reply: Reply, meta: CallMeta) -> dict[str, str]:
    used_requests = (meta.call_number - 1) % REQUEST_LIMIT + 1
    used_tokens = reply.prompt_tokens + reply.completion_tokens
    return {
        "x-request-id": f"req_{short_hash(reply.digest, str(meta.call_number), length=32)}",
        "openai-processing-ms": str(round(meta.latency_s * 1000)),
        "openai-version": "2020-10-01",
        "x-ratelimit-limit-requests": str(REQUEST_LIMIT),
        "x-ratelimit-remaining-requests": str(REQUEST_LIMIT - used_requests),
        "x-ratelimit-reset-requests": "6ms",
        "x-ratelimit-limit-tokens": str(TOKEN_LIMIT),
        "x-ratelimit-remaining-tokens": str(max(0, TOKEN_LIMIT - used_tokens)),
        "x-ratelimit-reset-tokens": "0s",
    }


def _retry_headers(rule: FaultRule, code: str | None) -> dict[str, str]:
    """``retry-after`` (seconds) and ``retry-after-ms`` as OpenAI sends them, when due."""
    seconds = rule.retry_after
    if seconds is None and rule.kind == "rate_limit" and code not in _NO_RETRY_CODES:
        seconds = 1.0
    if seconds is None:
        return {}
    return {"retry-after": retry_after_text(seconds), "retry-after-ms": str(round(seconds * 1000))}
