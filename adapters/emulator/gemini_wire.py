"""Gemini's generateContent wire format as the emulator speaks it.

``POST /{provider}/v1beta/models/{model}:generateContent`` answers a GenerateContentResponse
(candidates with ``content.role: "model"``, ``finishReason``, ``index``; ``usageMetadata``;
``modelVersion``; ``responseId``) and errors in Google's shape
``{"error": {"code", "message", "status", "details"}}``. Shapes follow googleapis/python-genai
``types.py`` and https://ai.google.dev/gemini-api/docs/troubleshooting (see
/work/shared/reference/provider-formats.md section 4).

Like Gemini 3, a function call the emulator makes carries a ``thoughtSignature``, and a
``gemini-3*`` model answers 400 when a model turn's function calls come back without one.

Fault rules: ``status`` picks Google's status name (400 INVALID_ARGUMENT, 403
PERMISSION_DENIED, 404 NOT_FOUND, 429 RESOURCE_EXHAUSTED, 500 INTERNAL, 503 UNAVAILABLE, 504
DEADLINE_EXCEEDED); ``error_code`` may name ``API_KEY_INVALID`` (400 with an ErrorInfo),
``context_length_exceeded`` (400 "input token count ... exceeds"), ``insufficient_quota``
(429 with a per-day QuotaFailure) or any google.rpc status name. A 429 carries a RetryInfo
detail with the rule's ``retry_after`` (default 1 s), as Google sends the delay in the body.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from adapters.emulator.content import Message, Prompt, Reply, ReplyChoice, ToolSpec, short_hash
from adapters.emulator.faults import FaultRule
from adapters.emulator.logprobs import gemini_logprobs
from adapters.emulator.wire import Answer, CallMeta, Parsed, first_problem

__all__ = ["GeminiWire", "google_error"]

_STATUS_NAMES: dict[int, str] = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}

# the HTTP status of a google.rpc status name a fault rule may give as its error_code
_STATUS_CODES: dict[str, int] = {
    **{name: status for status, name in _STATUS_NAMES.items() if status != 502},
    "FAILED_PRECONDITION": 400,
    "OUT_OF_RANGE": 400,
}

_MESSAGES: dict[str, str] = {
    "INVALID_ARGUMENT": "Request contains an invalid argument.",
    "FAILED_PRECONDITION": (
        "Gemini API free tier is not available in your country. "
        "Please enable billing on your project in Google AI Studio."
    ),
    "UNAUTHENTICATED": "Request had invalid authentication credentials.",
    "PERMISSION_DENIED": "Your API key doesn't have the required permissions.",
    "NOT_FOUND": (
        "models/{model} is not found for API version v1beta, "
        "or is not supported for generateContent."
    ),
    "RESOURCE_EXHAUSTED": (
        "You exceeded your current quota, please check your plan and billing details. "
        "For more information on this error, head to: "
        "https://ai.google.dev/gemini-api/docs/rate-limits."
    ),
    "INTERNAL": "An internal error has occurred. Please retry or report in "
    "https://developers.generativeai.google/guide/troubleshooting",
    "UNAVAILABLE": "The model is overloaded. Please try again later.",
    "DEADLINE_EXCEEDED": "Deadline expired before operation could complete.",
}

_MISSING_KEY_MESSAGE = (
    "Method doesn't allow unregistered callers (callers without established identity). "
    "Please use API Key or other form of API consumer identity to call this API."
)
_INVALID_KEY_MESSAGE = "API key not valid. Please pass a valid API key."
_CONTEXT_MESSAGE = (
    "The input token count (3475108) exceeds the maximum number of tokens allowed (1048576)."
)
_SIGNATURE_MESSAGE = (
    "Function call is missing a thought_signature in functionCall parts. This is required "
    "for tools to work correctly, and missing thought_signature may lead to degraded model "
    "performance. Additional data, function call `{name}` , position {position}. Please "
    "refer to https://ai.google.dev/gemini-api/docs/thought-signatures for more details."
)
_ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"

_FINISH_REASONS: dict[str, str] = {"stop": "STOP", "length": "MAX_TOKENS", "tool_calls": "STOP"}


_WIRE = ConfigDict(extra="allow", alias_generator=to_camel, populate_by_name=True)


class _Part(BaseModel):
    model_config = _WIRE

    text: str | None = None
    inline_data: dict[str, Any] | None = None
    file_data: dict[str, Any] | None = None
    function_call: dict[str, Any] | None = None
    function_response: dict[str, Any] | None = None
    thought_signature: str | None = None


class _Content(BaseModel):
    model_config = _WIRE

    role: Literal["user", "model"] = "user"
    parts: list[_Part] = Field(min_length=1)


class _Declaration(BaseModel):
    model_config = _WIRE

    name: str = Field(min_length=1, max_length=128)
    parameters: dict[str, Any] | None = None
    parameters_json_schema: dict[str, Any] | None = None


class _Tool(BaseModel):
    model_config = _WIRE

    function_declarations: list[_Declaration] = Field(default_factory=list)


class _CallingConfig(BaseModel):
    model_config = _WIRE

    mode: Literal["MODE_UNSPECIFIED", "AUTO", "ANY", "NONE", "VALIDATED"] = "AUTO"
    allowed_function_names: list[str] | None = None


class _ToolConfig(BaseModel):
    model_config = _WIRE

    function_calling_config: _CallingConfig | None = None


class _GenerationConfig(BaseModel):
    model_config = _WIRE

    candidate_count: int = Field(default=1, ge=1, le=8)
    max_output_tokens: int | None = Field(default=None, ge=1)
    response_mime_type: str | None = None
    response_json_schema: dict[str, Any] | None = None
    response_schema: dict[str, Any] | None = None
    stop_sequences: list[str] | None = Field(default=None, max_length=5)
    response_logprobs: bool | None = None
    logprobs: int | None = Field(default=None, ge=0, le=20)


class _Request(BaseModel):
    model_config = _WIRE

    contents: list[_Content] = Field(min_length=1)
    system_instruction: _Content | None = None
    tools: list[_Tool] | None = None
    tool_config: _ToolConfig | None = None
    generation_config: _GenerationConfig = Field(default_factory=_GenerationConfig)


def google_error(
    status: int,
    message: str,
    *,
    status_name: str | None = None,
    details: list[dict[str, Any]] | None = None,
) -> Answer:
    """An answer with Google's error body (google.rpc.Status as JSON)."""
    name = status_name or _STATUS_NAMES.get(status, "UNKNOWN")
    error: dict[str, Any] = {"code": status, "message": message, "status": name}
    if details:
        error["details"] = details
    return Answer(status=status, body={"error": error})


class GeminiWire:
    """Gemini's generateContent; the model comes from the path."""

    name = "gemini"

    def authenticate(self, headers: Mapping[str, str]) -> Answer | None:
        if headers.get("x-goog-api-key", "").strip():
            return None
        # the real API: 403 PERMISSION_DENIED without a key (400 API_KEY_INVALID for a bad one)
        return google_error(403, _MISSING_KEY_MESSAGE)

    def read(self, provider: str, body: bytes, path_params: Mapping[str, str]) -> Parsed:
        model = path_params.get("model") or None
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return Parsed(model=model, error=google_error(400, "Invalid JSON payload received."))
        if not isinstance(data, dict):
            return Parsed(model=model, error=google_error(400, "The request must be an object."))
        try:
            request = _Request.model_validate(data)
        except ValidationError as exc:
            problem = first_problem(exc, data)
            return Parsed(model=model, error=google_error(400, f"Invalid value at {problem}"))
        if model is None:
            return Parsed(model=None, error=google_error(404, "Model name is missing."))
        unsigned = _unsigned_call(request) if model.startswith("gemini-3") else None
        if unsigned is not None:
            return Parsed(model=model, error=google_error(400, unsigned))
        return Parsed(model=model, prompt=_prompt_from(provider, model, request))

    def success(self, prompt: Prompt, reply: Reply, meta: CallMeta) -> Answer:
        completion = reply.completion_tokens
        body = {
            "candidates": [_candidate(choice, prompt.logprobs) for choice in reply.choices],
            "usageMetadata": {
                "promptTokenCount": reply.prompt_tokens,
                "candidatesTokenCount": completion,
                "totalTokenCount": reply.prompt_tokens + completion,
                "promptTokensDetails": [{"modality": "TEXT", "tokenCount": reply.prompt_tokens}],
            },
            "modelVersion": prompt.model,
            "responseId": short_hash(reply.digest, "gemini", length=22),
        }
        return Answer(status=200, body=body)

    def fault(self, rule: FaultRule, model: str) -> Answer:
        code = rule.error_code
        if code == "API_KEY_INVALID":
            return _invalid_key_answer(rule)
        if code == "context_length_exceeded":
            return google_error(400, rule.message or _CONTEXT_MESSAGE)
        status = _STATUS_CODES.get(code or "", rule.answer_status)
        name = code if code in _STATUS_CODES else _STATUS_NAMES.get(status, "UNKNOWN")
        message = rule.message or _MESSAGES.get(name, f"Emulated error {status}.")
        details = _quota_details(rule, model) if status == 429 else None
        return google_error(
            status, message.format(model=model), status_name=name, details=details
        )


def _invalid_key_answer(rule: FaultRule) -> Answer:
    detail = {
        "@type": _ERROR_INFO,
        "reason": "API_KEY_INVALID",
        "domain": "googleapis.com",
        "metadata": {"service": "generativelanguage.googleapis.com"},
    }
    return google_error(400, rule.message or _INVALID_KEY_MESSAGE, details=[detail])


def _quota_details(rule: FaultRule, model: str) -> list[dict[str, Any]]:
    """QuotaFailure (per day for ``insufficient_quota``, else per minute) and RetryInfo."""
    per_day = rule.error_code == "insufficient_quota"
    quota_id = (
        "GenerateRequestsPerDayPerProjectPerModel-FreeTier"
        if per_day
        else "GenerateRequestsPerMinutePerProjectPerModel"
    )
    details: list[dict[str, Any]] = [
        {
            "@type": "type.googleapis.com/google.rpc.QuotaFailure",
            "violations": [
                {
                    "quotaMetric": "generativelanguage.googleapis.com/generate_content_requests",
                    "quotaId": quota_id,
                    "quotaDimensions": {"location": "global", "model": model},
                }
            ],
        },
        {
            "@type": "type.googleapis.com/google.rpc.Help",
            "links": [
                {
                    "description": "Learn more about Gemini API quotas",
                    "url": "https://ai.google.dev/gemini-api/docs/rate-limits",
                }
            ],
        },
    ]
    seconds = rule.retry_after if rule.retry_after is not None else 1.0
    details.append(
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{seconds:g}s"}
    )
    return details


def _unsigned_call(request: _Request) -> str | None:
    """Gemini 3's 400 for a model turn whose function calls carry no thought signature."""
    for position, content in enumerate(request.contents):
        calls = [part for part in content.parts if part.function_call is not None]
        if content.role == "model" and calls and calls[0].thought_signature is None:
            name = (calls[0].function_call or {}).get("name", "")
            return _SIGNATURE_MESSAGE.format(name=name, position=position + 1)
    return None


def _prompt_from(provider: str, model: str, request: _Request) -> Prompt:
    config = request.generation_config
    tool_choice, forced = _tool_choice(request.tool_config)
    json_schema = config.response_json_schema or config.response_schema
    messages = tuple(_message(content) for content in request.contents)
    if request.system_instruction is not None:
        messages = (_message(request.system_instruction, role="system"), *messages)
    return Prompt(
        provider=provider,
        model=model,
        messages=messages,
        tools=tuple(
            ToolSpec(d.name, d.parameters_json_schema or d.parameters or {})
            for tool in request.tools or ()
            for d in tool.function_declarations
        ),
        tool_choice=tool_choice,
        forced_tool=forced,
        max_tokens=config.max_output_tokens,
        n=config.candidate_count,
        json_mode=config.response_mime_type == "application/json",
        json_schema=json_schema,
        logprobs=(config.logprobs or 0) if config.response_logprobs else None,
    )


def _tool_choice(tool_config: _ToolConfig | None) -> tuple[str, str | None]:
    calling = tool_config.function_calling_config if tool_config is not None else None
    if calling is None or calling.mode in ("AUTO", "VALIDATED", "MODE_UNSPECIFIED"):
        return "auto", None
    if calling.mode == "NONE":
        return "none", None
    if calling.allowed_function_names:
        return "function", calling.allowed_function_names[0]
    return "required", None


def _message(content: _Content, role: str | None = None) -> Message:
    """A turn as the content module sees it; a user turn of function responses is a tool turn."""
    texts: list[str] = []
    images = 0
    responses = 0
    for part in content.parts:
        if part.text is not None:
            texts.append(part.text)
        elif part.inline_data is not None or part.file_data is not None:
            images += 1
        elif part.function_call is not None:
            call = part.function_call
            texts.append(f"{call.get('name', '')}{json.dumps(call.get('args', {}))}")
        elif part.function_response is not None:
            responses += 1
            texts.append(json.dumps(part.function_response.get("response", {})))
    if role is None:
        role = "assistant" if content.role == "model" else "tool" if responses else "user"
    return Message(role=role, text="\n".join(texts), images=images)


def _candidate(choice: ReplyChoice, logprobs: int | None) -> dict[str, Any]:
    parts: list[dict[str, Any]] = []
    if choice.text is not None:
        parts.append({"text": choice.text})
    for position, call in enumerate(choice.tool_calls):
        part: dict[str, Any] = {
            "functionCall": {"name": call.name, "args": json.loads(call.arguments)}
        }
        if position == 0:
            # Gemini 3 signs the first function call of a step (parallel calls: the first only)
            signature = short_hash(call.id, "thought-signature", length=48).encode("ascii")
            part["thoughtSignature"] = base64.b64encode(signature).decode("ascii")
        parts.append(part)
    candidate: dict[str, Any] = {
        "content": {"role": "model", "parts": parts},
        "finishReason": _FINISH_REASONS[choice.finish_reason],
        "index": choice.index,
    }
    if logprobs is not None:
        candidate["logprobsResult"] = gemini_logprobs(choice.text or "", logprobs)
    return candidate
