"""OpenAI's chat-completions wire format, and the knobs the OpenAI-compatible vendors turn on it.

cascade's request already is an OpenAI chat-completions body, so building the call is mostly
passing it through; the work is in reading answers and errors. The module is named
``openai_chat`` so that it never shadows the ``openai`` SDK package.

A compatible vendor (DeepSeek, Mistral, Groq, Together, ...) reuses the adapter by subclassing
it with a different ``name`` and ``quirks``::

    class DeepSeekAdapter(OpenAIChatAdapter):
        name = "deepseek"
        quirks = CompatQuirks(
            response_format_types=frozenset({"text", "json_object"}),
            token_limit_field="max_tokens",
            error_finish_reasons=frozenset({"insufficient_system_resource"}),
            cached_tokens_path=("prompt_cache_hit_tokens",),
        )

Sources: the request/response/error shapes of openai/openai-openapi and openai/openai-python,
as summarised in shared/reference/provider-formats.md section 1.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar, Literal

from pydantic import ValidationError

from adapters.answers import answer_object, invalid_answer
from adapters.base import AdapterTarget, HttpCall, ParsedResponse
from adapters.errors import (
    AuthError,
    ContentBlocked,
    ContextTooLong,
    InvalidRequest,
    ModelNotFound,
    Overloaded,
    ProviderError,
    ProviderTimeout,
    QuotaExhausted,
    RateLimited,
    ServerError,
)
from adapters.finish_reasons import FinishReason, FinishReasonTable, finish_reason_from
from adapters.http_errors import (
    UNSUPPORTED_PARAMETER_CODES,
    UNSUPPORTED_PARAMETER_RULES,
    ErrorCodeTable,
    ErrorRules,
    MessageRule,
    StatusTable,
    error_from_response,
    error_object,
)
from adapters.http_response import read_json_object
from adapters.json_values import count, dig
from adapters.parameters import PARAMETER_KINDS, WireParameters, parameters_for
from broker.jobs import Choice, CompletionRequest, ResponseMessage, ToolCall, Usage

__all__ = [
    "ERROR_CODES",
    "FINISH_REASON_TABLE",
    "MESSAGE_RULES",
    "OPENAI_QUIRKS",
    "STATUS_CLASSES",
    "CompatQuirks",
    "OpenAIChatAdapter",
    "tool_calls_from",
    "usage_from",
]

# https://platform.openai.com/docs/api-reference/chat/object (choices[].finish_reason).
# A value missing here becomes "stop" ("tool_calls" when the message carries tool calls): the
# answer was generated and paid for, and a retry would most likely end the same way, so keeping
# it beats failing the job. Values that do mean failure are listed per vendor in
# CompatQuirks.error_finish_reasons and raise ServerError instead.
FINISH_REASON_TABLE: FinishReasonTable = MappingProxyType(
    {
        "stop": "stop",
        "length": "length",
        "tool_calls": "tool_calls",
        "content_filter": "content_filter",
        "function_call": "function_call",
    }
)

# The HTTP status when neither the error code nor the message says more.
# Statuses from openai-python _client.py's status -> exception map and OpenAI's error-codes guide
# (https://platform.openai.com/docs/guides/error-codes).
STATUS_CLASSES: StatusTable = MappingProxyType(
    {
        400: InvalidRequest,
        401: AuthError,
        402: QuotaExhausted,  # compatible vendors' billing status (DeepSeek, Together)
        403: AuthError,  # PermissionDenied: key, project or region not allowed
        # Every 404 on POST /chat/completions is a catalog problem (a wrong model id or
        # base_url), never the caller's request: reroute rather than fail the job.
        404: ModelNotFound,
        408: ProviderTimeout,
        # openai-python retries 409 ("lock timeouts", _base_client._should_retry): transient.
        409: ServerError,
        413: InvalidRequest,
        422: InvalidRequest,
        429: RateLimited,
        500: ServerError,
        502: ServerError,
        503: Overloaded,
        504: ServerError,
    }
)

# error.code (or error.type when the code is null), which beats the status: OpenAI sends
# quota exhaustion as 429 and a context overflow as a plain 400.
ERROR_CODES: ErrorCodeTable = MappingProxyType(
    {
        "context_length_exceeded": ContextTooLong,
        "content_policy_violation": ContentBlocked,
        "content_filter": ContentBlocked,  # Azure's prompt filter (openai-agents-python#806)
        "invalid_prompt": ContentBlocked,  # reasoning models' usage-policy flag
        "model_not_found": ModelNotFound,
        "insufficient_quota": QuotaExhausted,  # a billing limit dressed as 429: never retry
        "credit_balance_exhausted": QuotaExhausted,
        "invalid_api_key": AuthError,
        "server_is_overloaded": Overloaded,
        **UNSUPPORTED_PARAMETER_CODES,
    }
)

# For compatible servers that send a message but no code (vLLM, Groq, Together).
MESSAGE_RULES: tuple[MessageRule, ...] = (
    MessageRule(r"\bmodel\b.*\bdoes not exist\b", ModelNotFound),
    MessageRule(r"maximum context length|context length|context window", ContextTooLong),
    MessageRule(r"exceeded your current quota", QuotaExhausted),
    MessageRule(r"rejected as a result of our safety system", ContentBlocked),
    *UNSUPPORTED_PARAMETER_RULES,
)

_RESPONSE_FORMATS = frozenset({"text", "json_object", "json_schema"})


def _empty_table() -> Mapping[Any, Any]:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True)
class CompatQuirks:
    """How one OpenAI-compatible vendor departs from OpenAI, as data."""

    # response_format types the vendor accepts; others raise InvalidRequest before any call
    response_format_types: frozenset[str] = _RESPONSE_FORMATS
    # the field the output limit is sent in: OpenAI deprecated max_tokens (o-series reject it)
    token_limit_field: Literal["max_completion_tokens", "max_tokens"] = "max_completion_tokens"
    # request fields never sent. OpenAI answers 400 to `metadata` unless `store` is true, and
    # storing prompts at the provider is not something a caller's tags should switch on.
    dropped_fields: frozenset[str] = frozenset({"metadata"})
    # request fields sent under another name (Mistral: seed -> random_seed)
    renamed_fields: Mapping[str, str] = field(default_factory=_empty_table)
    # native finish reasons beyond OpenAI's (Mistral: model_length -> length)
    extra_finish_reasons: FinishReasonTable = field(default_factory=_empty_table)
    # finish reasons that mean the generation failed (DeepSeek: insufficient_system_resource)
    error_finish_reasons: frozenset[str] = frozenset()
    extra_error_codes: ErrorCodeTable = field(default_factory=_empty_table)
    extra_statuses: StatusTable = field(default_factory=_empty_table)
    # where usage details sit (DeepSeek also reports prompt_cache_hit_tokens at the top level)
    cached_tokens_path: tuple[str, ...] = ("prompt_tokens_details", "cached_tokens")
    reasoning_tokens_path: tuple[str, ...] = ("completion_tokens_details", "reasoning_tokens")

    @property
    def finish_reasons(self) -> FinishReasonTable:
        return {**FINISH_REASON_TABLE, **self.extra_finish_reasons}

    @property
    def error_rules(self) -> ErrorRules:
        return ErrorRules(
            statuses={**STATUS_CLASSES, **self.extra_statuses},
            codes={**ERROR_CODES, **self.extra_error_codes},
            messages=MESSAGE_RULES,
        )


OPENAI_QUIRKS = CompatQuirks()

# AdapterTarget.options keys sent as headers (openai-python sends these two)
_OPTION_HEADERS: Mapping[str, str] = MappingProxyType(
    {"organization": "OpenAI-Organization", "project": "OpenAI-Project"}
)


class OpenAIChatAdapter:
    """POST {base_url}/chat/completions, Bearer auth, OpenAI's bodies both ways."""

    name: str = "openai"
    quirks: ClassVar[CompatQuirks] = OPENAI_QUIRKS

    def build_request(
        self, request: CompletionRequest, target: AdapterTarget, api_key: str
    ) -> HttpCall:
        """The call for ``request``; InvalidRequest when the vendor cannot take its format."""
        _check_response_format(request, self.quirks)
        body = _request_body(request, self.quirks, parameters_for(self.name))
        return HttpCall(
            method="POST",
            url=f"{target.base_url.rstrip('/')}/chat/completions",
            headers=_headers(api_key, target),
            json={"model": target.model_id, **body, "stream": False},
        )

    def parse_response(
        self, status_code: int, headers: Mapping[str, str], body: bytes, target: AdapterTarget
    ) -> ParsedResponse:
        """The chat.completion in ``body``; ServerError when the body is not one."""
        payload = answer_object(body, status_code)
        if not isinstance(payload.get("choices"), list):
            if "error" in payload:
                # some compatible servers report failures with a 2xx status
                raise self.classify_error(status_code, headers, body)
            raise ServerError("the answer has no 'choices' list", status_code=status_code)
        try:
            return _parsed_response(payload, target, self.quirks)
        except ServerError as exc:
            exc.status_code = status_code  # raised by helpers that never see the status
            raise
        except ValidationError as exc:
            raise invalid_answer(exc, "chat.completion", status_code) from exc

    def classify_error(
        self, status_code: int, headers: Mapping[str, str], body: bytes
    ) -> ProviderError:
        """The most specific ProviderError for an error response (returned, not raised)."""
        error = error_object(read_json_object(body))
        return error_from_response(
            self.quirks.error_rules,
            status_code,
            headers,
            body,
            codes=_error_codes(error),
            message=error.get("message"),
        )


# --- building the request ----------------------------------------------------------------


def _check_response_format(request: CompletionRequest, quirks: CompatQuirks) -> None:
    response_format = request.response_format
    if response_format is not None and response_format.type not in quirks.response_format_types:
        supported = ", ".join(sorted(quirks.response_format_types))
        raise InvalidRequest(
            f"response_format {response_format.type!r} is not supported here (only {supported})"
        )


def _request_body(
    request: CompletionRequest, quirks: CompatQuirks, parameters: WireParameters
) -> dict[str, Any]:
    # by_alias: ResponseFormat.json_schema.schema_ goes on the wire as "schema"
    body = request.model_dump(mode="json", exclude_none=True, by_alias=True)
    for name in list(body):
        # a routed parameter the format lacks never gets here (the planner routed around it);
        # a hint it lacks, and what is never sent, stay off the wire
        if PARAMETER_KINDS.get(name, "core") != "core" and name not in parameters.sent:
            del body[name]
    if body.get("n") == 1:
        del body["n"]  # the default; some compatible vendors reject the field outright
    body.pop("max_tokens", None)
    body.pop("max_completion_tokens", None)
    if request.output_token_limit is not None:
        body[quirks.token_limit_field] = request.output_token_limit
    for name in quirks.dropped_fields:
        body.pop(name, None)
    for name, wire_name in quirks.renamed_fields.items():
        if name in body:
            body[wire_name] = body.pop(name)
    return body


def _headers(api_key: str, target: AdapterTarget) -> dict[str, str]:
    headers = {"Content-Type": "application/json"}
    if api_key:  # local servers (Ollama, vLLM without --api-key) take none
        headers["Authorization"] = f"Bearer {api_key}"
    for option, header in _OPTION_HEADERS.items():
        value = target.options.get(option)
        if isinstance(value, str) and value:
            headers[header] = value
    return headers


# --- reading the answer ------------------------------------------------------------------


def _parsed_response(
    payload: dict[str, Any], target: AdapterTarget, quirks: CompatQuirks
) -> ParsedResponse:
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
        usage=_usage(payload.get("usage"), quirks),
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


def _usage(raw: Any, quirks: CompatQuirks) -> Usage:
    """OpenAI's usage: prompt_tokens includes cached, completion_tokens includes reasoning."""
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


# --- reading an error --------------------------------------------------------------------


def _error_codes(error: dict[str, Any]) -> list[str]:
    """error.code then error.type, as strings (Azure sends "429", vLLM the integer 400)."""
    codes = []
    for key in ("code", "type"):
        value = error.get(key)
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
            codes.append(str(value))
    return codes


def usage_from(raw: Any, quirks: CompatQuirks = OPENAI_QUIRKS) -> Usage:
    """An OpenAI usage object (an answer's or a stream's last chunk) as cascade's Usage."""
    return _usage(raw, quirks)
