"""Cohere's Chat v2 wire format (``POST {base_url}/v2/chat``), to and from OpenAI's shape.

Request mapping (https://docs.cohere.com/reference/chat, cohere-python ``v2/raw_client.py``):
system and developer messages become ``system``; user images stay ``image_url`` parts; an
assistant message's text beside its tool calls becomes ``tool_plan`` (Cohere's name for what
the model says before calling tools); ``top_p -> p`` (clamped into Cohere's 0.01-0.99),
``stop -> stop_sequences``, ``max_completion_tokens``/``max_tokens -> max_tokens``;
``tool_choice`` ``required``/``none`` -> ``REQUIRED``/``NONE``, ``auto`` is the default and
omitted. Refused with InvalidRequest: ``n`` > 1, a named ``tool_choice``,
``parallel_tool_calls: false``, ``temperature`` > 1, ``messages[].name``, and JSON output
together with tools (Cohere's ``response_format`` limitation).

Usage convention: prompt/completion tokens are ``usage.tokens`` (what the model processed,
prompt template included), falling back to ``usage.billed_units`` when absent;
``cached_tokens`` is ``usage.cached_tokens``. ``billed_units`` (what Cohere charges, usually
fewer input tokens) is not kept, so a cost computed from this usage is an upper bound.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from pydantic import ValidationError

from adapters.answers import invalid_answer
from adapters.base import AdapterTarget, HttpCall, ParsedResponse
from adapters.errors import (
    AuthError,
    ContentBlocked,
    ContextTooLong,
    InvalidRequest,
    ModelNotFound,
    Overloaded,
    ProviderError,
    QuotaExhausted,
    RateLimited,
    ServerError,
)
from adapters.finish_reasons import FinishReason, FinishReasonTable, finish_reason_from
from adapters.http_errors import ErrorRules, MessageRule, StatusTable, error_from_response
from adapters.http_response import read_json_object
from adapters.json_values import as_object, count
from adapters.openai_answer import tool_calls_from
from adapters.request_fields import content_text, stop_list
from broker.jobs import (
    AssistantMessage,
    ChatMessage,
    Choice,
    CompletionRequest,
    DeveloperMessage,
    ImageContentPart,
    NamedToolChoice,
    ResponseMessage,
    SystemMessage,
    ToolMessage,
    Usage,
    UserMessage,
)

__all__ = [
    "COHERE_ERROR_RULES",
    "ERROR_FINISH_REASONS",
    "FINISH_REASON_TABLE",
    "MESSAGE_RULES",
    "STATUS_CLASSES",
    "CohereChatAdapter",
    "usage_from",
]

PROVIDER = "cohere"

# https://docs.cohere.com/reference/chat (finish_reason) and cohere-python
# types/chat_finish_reason.py; ERROR_TOXIC is v1's, kept for answers from older models.
FINISH_REASON_TABLE: FinishReasonTable = MappingProxyType(
    {
        "COMPLETE": "stop",
        "STOP_SEQUENCE": "stop",
        "MAX_TOKENS": "length",
        "TOOL_CALL": "tool_calls",
        "ERROR_TOXIC": "content_filter",
    }
)
# the generation failed on Cohere's side: a retry may well succeed
ERROR_FINISH_REASONS = frozenset({"ERROR", "TIMEOUT"})

# Statuses from cohere-python v2/raw_client.py (the exception raised per status) and
# https://docs.cohere.com/reference/errors (402 billing limit, 499 cancelled: "try again").
STATUS_CLASSES: StatusTable = MappingProxyType(
    {
        400: InvalidRequest,
        401: AuthError,
        402: QuotaExhausted,
        403: AuthError,
        404: ModelNotFound,
        422: InvalidRequest,
        429: RateLimited,
        # the SDK names 498 InvalidTokenError: the key was refused
        498: AuthError,
        499: ServerError,
        500: ServerError,
        501: ServerError,
        502: ServerError,
        503: Overloaded,
        504: ServerError,
    }
)

# Cohere's error body is {"message": ...}, no code: the message is all there is.
MESSAGE_RULES: tuple[MessageRule, ...] = (
    # 400 "too many tokens: size limit exceeded by 11326 tokens..." (docs errors page)
    MessageRule(r"^too many tokens", ContextTooLong),
    # the trial key's monthly allowance comes as 429 but will not clear within minutes
    MessageRule(r"calls\s*/\s*month", QuotaExhausted),
    # a Cohere docs change describes 498 as an unsafe request blocked by usage guidelines
    MessageRule(r"\bunsafe\b|usage guidelines", ContentBlocked),
)

COHERE_ERROR_RULES = ErrorRules(statuses=STATUS_CLASSES, codes={}, messages=MESSAGE_RULES)

_TOOL_CHOICES: Mapping[str, str] = MappingProxyType({"required": "REQUIRED", "none": "NONE"})
# Cohere's documented range for p (OpenAI allows 0-1)
_P_RANGE = (0.01, 0.99)
_MAX_TEMPERATURE = 1.0


class CohereChatAdapter:
    """POST {base_url}/v2/chat, Bearer auth, Cohere's v2 bodies both ways."""

    name: str = PROVIDER

    def build_request(
        self, request: CompletionRequest, target: AdapterTarget, api_key: str
    ) -> HttpCall:
        """The call for ``request``; InvalidRequest for what Cohere v2 cannot take."""
        _check_supported(request)
        body: dict[str, Any] = {
            "model": target.model_id,
            "messages": [
                _message(message, position) for position, message in enumerate(request.messages)
            ],
            "stream": False,
            **_tool_fields(request),
            **_sampling_fields(request),
        }
        response_format = _response_format(request)
        if response_format is not None:
            body["response_format"] = response_format
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        return HttpCall(
            method="POST", url=f"{target.base_url.rstrip('/')}/v2/chat", headers=headers, json=body
        )

    def parse_response(
        self, status_code: int, headers: Mapping[str, str], body: bytes, target: AdapterTarget
    ) -> ParsedResponse:
        """The V2ChatResponse in ``body`` as a chat.completion."""
        payload = read_json_object(body)
        if payload is None or not isinstance(payload.get("message"), dict):
            if payload is not None and "message" in payload and "finish_reason" not in payload:
                raise self.classify_error(status_code, headers, body)  # an error body
            raise ServerError("the answer is not a Cohere chat response", status_code=status_code)
        try:
            choice = _choice(payload)
        except ServerError as exc:
            exc.status_code = status_code
            raise
        except ValidationError as exc:
            raise invalid_answer(exc, "Cohere chat response", status_code) from exc
        return ParsedResponse(
            id=str(payload.get("id") or ""),
            model=target.model_id,  # v2 answers do not name the model
            created=int(time.time()),  # nor say when
            choices=[choice],
            usage=_usage(payload.get("usage")),
        )

    def classify_error(
        self, status_code: int, headers: Mapping[str, str], body: bytes
    ) -> ProviderError:
        """The most specific ProviderError for an error response (returned, not raised)."""
        # Cohere's error body is {"message": ...} and nothing else
        payload = read_json_object(body) or {}
        return error_from_response(
            COHERE_ERROR_RULES,
            status_code,
            headers,
            body,
            codes=(),
            message=payload.get("message"),
        )


# --- building the request ----------------------------------------------------------------


def _refuse(parameter: str, why: str = "") -> InvalidRequest:
    what = f"{parameter} {why}" if why else parameter
    return InvalidRequest(f"{what} is not supported by {PROVIDER}")


def _check_supported(request: CompletionRequest) -> None:
    if request.n > 1:
        raise _refuse("n", f"= {request.n} (Chat v2 returns one generation)")
    if isinstance(request.tool_choice, NamedToolChoice):
        raise _refuse("tool_choice", "naming a function (only required, none or auto)")
    if request.parallel_tool_calls is False:
        raise _refuse("parallel_tool_calls", "= false")
    if request.temperature is not None and request.temperature > _MAX_TEMPERATURE:
        raise _refuse("temperature", f"= {request.temperature} (0 to 1 only)")
    json_output = request.response_format is not None and request.response_format.type != "text"
    if json_output and request.tools:
        raise _refuse("response_format", "together with tools")
    for position, message in enumerate(request.messages):
        if getattr(message, "name", None) is not None:
            raise _refuse(f"messages[{position}].name")


def _message(message: ChatMessage, position: int) -> dict[str, Any]:
    if isinstance(message, SystemMessage | DeveloperMessage):
        return {"role": "system", "content": content_text(message.content)}
    if isinstance(message, UserMessage):
        return {"role": "user", "content": _user_content(message)}
    if isinstance(message, AssistantMessage):
        return _assistant_message(message)
    if isinstance(message, ToolMessage):
        return {
            "role": "tool",
            "tool_call_id": message.tool_call_id,
            "content": content_text(message.content),
        }
    raise _refuse(f"messages[{position}].role", f"{type(message).__name__}")


def _user_content(message: UserMessage) -> str | list[dict[str, Any]]:
    if isinstance(message.content, str):
        return message.content
    parts: list[dict[str, Any]] = []
    for part in message.content:
        if isinstance(part, ImageContentPart):
            image = part.image_url.model_dump(exclude_none=True)
            parts.append({"type": "image_url", "image_url": image})
        else:
            parts.append({"type": "text", "text": part.text})
    return parts


def _assistant_message(message: AssistantMessage) -> dict[str, Any]:
    text = content_text(message.content)
    if not message.tool_calls:
        return {"role": "assistant", "content": text}
    wire: dict[str, Any] = {
        "role": "assistant",
        "tool_calls": [call.model_dump(mode="json") for call in message.tool_calls],
    }
    if text:
        wire["tool_plan"] = text
    return wire


def _tool_fields(request: CompletionRequest) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    if request.tools:
        fields["tools"] = [
            {
                "type": "function",
                "function": tool.function.model_dump(exclude={"strict"}, exclude_none=True),
            }
            for tool in request.tools
        ]
        # Cohere's strictness is per request: any strict tool makes them all strict
        if any(tool.function.strict for tool in request.tools):
            fields["strict_tools"] = True
    if isinstance(request.tool_choice, str) and request.tool_choice in _TOOL_CHOICES:
        fields["tool_choice"] = _TOOL_CHOICES[request.tool_choice]
    return fields


def _sampling_fields(request: CompletionRequest) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    if request.temperature is not None:
        fields["temperature"] = request.temperature
    if request.top_p is not None:
        # OpenAI's ends (0 and 1) are outside Cohere's 0.01-0.99; the nearest value is sent
        fields["p"] = min(max(request.top_p, _P_RANGE[0]), _P_RANGE[1])
    if request.output_token_limit is not None:
        fields["max_tokens"] = request.output_token_limit
    if request.stop is not None:
        fields["stop_sequences"] = stop_list(request.stop)
    if request.seed is not None:
        fields["seed"] = request.seed
    return fields


def _response_format(request: CompletionRequest) -> dict[str, Any] | None:
    """cohere-python types/response_format_v2.py: json_object with an optional json_schema."""
    response_format = request.response_format
    if response_format is None or response_format.type == "text":
        return None
    wire: dict[str, Any] = {"type": "json_object"}
    spec = response_format.json_schema
    if spec is not None and spec.schema_ is not None:
        wire["json_schema"] = spec.schema_
    return wire


# --- reading the answer ------------------------------------------------------------------


def _choice(payload: dict[str, Any]) -> Choice:
    native = payload.get("finish_reason")
    if isinstance(native, str) and native in ERROR_FINISH_REASONS:
        raise ServerError(f"the generation failed: finish_reason {native!r}")
    message: dict[str, Any] = payload["message"]
    tool_calls = tool_calls_from(message.get("tool_calls"), check_type=False)
    content = _content_text(message.get("content"))
    plan = message.get("tool_plan")
    if content is None and tool_calls and isinstance(plan, str) and plan:
        content = plan  # what the model said before its calls, as OpenAI models say it
    unknown: FinishReason = "tool_calls" if tool_calls else "stop"
    return Choice(
        index=0,
        message=ResponseMessage(content=content, tool_calls=tool_calls),
        finish_reason=finish_reason_from(FINISH_REASON_TABLE, native, unknown=unknown),
    )


def _content_text(raw: Any) -> str | None:
    if raw is None or isinstance(raw, str):
        return raw
    if not isinstance(raw, list):
        raise ServerError(f"message content is a {type(raw).__name__}, not a list")
    texts = [
        str(part["text"])
        for part in raw
        if isinstance(part, dict) and part.get("type", "text") == "text" and "text" in part
    ]
    return "".join(texts) if texts else None


def _usage(raw: Any) -> Usage:
    if not isinstance(raw, dict):
        return Usage()
    tokens = as_object(raw.get("tokens"))
    billed = as_object(raw.get("billed_units"))
    prompt = count(tokens.get("input_tokens", billed.get("input_tokens")))
    completion = count(tokens.get("output_tokens", billed.get("output_tokens")))
    return Usage(
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=prompt + completion,
        cached_tokens=count(raw.get("cached_tokens")),
    )


def usage_from(raw: Any) -> Usage:
    """A V2ChatResponse's usage (or a stream's message-end usage) in OpenAI's convention."""
    return _usage(raw)
