"""Anthropic's Messages API (``POST /v1/messages``) as a cascade wire format.

Request: system and developer messages go to the top-level ``system`` (one text block each, in
order); user, assistant and tool messages become alternating user/assistant turns of content
blocks (same-role neighbours merged; tool results grouped into one user turn, ahead of any
text, as the API requires); tool-call ids Anthropic rejects are rewritten (``adapters.tool_ids``).

Choices made where OpenAI's request has no Anthropic equivalent (refused with InvalidRequest,
never dropped): ``n > 1``, ``seed``, ``temperature > 1`` (Anthropic's range is 0..1), a
message ``name``, whitespace-only stop sequences. ``max_tokens`` is required by Anthropic: the
request's limit, else ``target.options["max_tokens"]``, else ``DEFAULT_MAX_TOKENS``.
``metadata`` holds cascade's own tags and is not sent (Anthropic's ``metadata`` takes only
``user_id``, which comes from ``user``).

JSON output: ``json_schema`` uses structured outputs (``output_config.format``, GA in the
anthropic SDK since late 2025 for Claude 4.5+ models); ``json_object`` has no native mode (the
structured-output schema language needs closed objects), so it forces a reserved tool whose
input is any JSON object, and the answer's call of that tool comes back as the message content.
A target whose model predates structured outputs sets ``options["json_schema_via_tool"]`` to
get the same forced-tool route for ``json_schema``. Either tool route refuses a request that
also carries tools.

Sources: anthropic-sdk-python (``types/message_create_params.py``, ``types/message.py``,
``types/stop_reason.py``, ``types/usage.py``, ``types/shared/error_type.py``, the
``error.details.error_code`` classes), https://docs.claude.com/en/api/messages and
https://docs.claude.com/en/api/errors, as summarised in shared/reference/provider-formats.md
section 3.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from email.utils import parsedate_to_datetime
from types import MappingProxyType
from typing import Any

from adapters.base import AdapterTarget, HttpCall, ParsedResponse
from adapters.errors import (
    AuthError,
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
    ErrorCodeTable,
    ErrorRules,
    MessageRule,
    StatusTable,
    classify,
    make_error,
)
from adapters.http_response import header_value, read_json_object, safe_excerpt
from adapters.tool_ids import ANTHROPIC_TOOL_IDS
from broker.jobs import (
    AssistantMessage,
    ChatMessage,
    Choice,
    CompletionRequest,
    ImageContentPart,
    ResponseMessage,
    TextContentPart,
    ToolCall,
    ToolMessage,
    Usage,
    UserMessage,
)

__all__ = [
    "ANTHROPIC_VERSION",
    "DEFAULT_MAX_TOKENS",
    "ERROR_CODES",
    "ERROR_RULES",
    "FINISH_REASON_TABLE",
    "JSON_TOOL_NAME",
    "MESSAGE_RULES",
    "STATUS_CLASSES",
    "AnthropicMessagesAdapter",
    "request_body",
]

PROVIDER = "anthropic"
ANTHROPIC_VERSION = "2023-06-01"  # the only version the anthropic SDK sends
DEFAULT_MAX_TOKENS = 4096
MAX_TEMPERATURE = 1.0
# the reserved tool that carries json_object (and fallback json_schema) output
JSON_TOOL_NAME = "cascade_json_output"

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

# https://docs.claude.com/en/api/errors (HTTP status -> error type), and the SDK's
# status -> exception map (_client.py): 402 PaymentRequired, 413 ContentTooLarge, 529 Overloaded.
STATUS_CLASSES: StatusTable = MappingProxyType(
    {
        400: InvalidRequest,
        401: AuthError,
        402: QuotaExhausted,  # billing_error
        403: AuthError,  # permission_error
        404: ModelNotFound,  # POST /v1/messages has no other resource to miss
        408: ProviderTimeout,
        409: ServerError,  # the SDK retries conflicts
        # request_too_large (32 MB, sent by Cloudflare before any model sees it): the request
        # itself is too big; a larger context window would not help, so it is not ContextTooLong
        413: InvalidRequest,
        429: RateLimited,
        500: ServerError,  # api_error
        502: ServerError,
        503: Overloaded,
        504: ProviderTimeout,  # timeout_error
        529: Overloaded,  # overloaded_error: Anthropic-wide capacity, not the caller's quota
    }
)

# error.details.error_code (checked first) and error.type. invalid_request_error and
# rate_limit_error are left to the message rules and the status, because Anthropic reports
# spend limits and context overflows under those types.
ERROR_CODES: ErrorCodeTable = MappingProxyType(
    {
        # error.details.error_code (anthropic-sdk-python types/shared/*_error_details.py)
        "enforced_spend_limit_reached": QuotaExhausted,  # 429, monthly tier threshold
        "contract_spend_limit_reached": QuotaExhausted,  # 429
        "linked_organization_spend_limit_reached": QuotaExhausted,  # 402
        "linked_organization_billing_unavailable": QuotaExhausted,  # 402
        "ramp_limit_exceeded": RateLimited,  # 429 with retry-after
        "organization_on_hold": AuthError,  # 400: the organization is disabled
        # error.type (types/shared/error_type.py)
        "authentication_error": AuthError,
        "permission_error": AuthError,
        "billing_error": QuotaExhausted,
        "not_found_error": ModelNotFound,
        "request_too_large": InvalidRequest,
        "timeout_error": ProviderTimeout,
        "api_error": ServerError,
        "overloaded_error": Overloaded,
    }
)

# Messages of invalid_request_error / rate_limit_error bodies that mean more than their type.
MESSAGE_RULES: tuple[MessageRule, ...] = (
    # "prompt is too long: 208656 tokens > 200000 maximum"
    MessageRule(r"prompt is too long", ContextTooLong),
    # "input length and `max_tokens` exceed context limit: 198000 + 4096 > 200000, ..."
    MessageRule(r"exceed context limit", ContextTooLong),
    # "You have reached your specified API usage limits. You will regain access on ..."
    MessageRule(r"reached your specified (workspace )?API usage limits", QuotaExhausted),
    # "Your credit balance is too low to access the Anthropic API. ..."
    MessageRule(r"credit balance is too low", QuotaExhausted),
)

ERROR_RULES = ErrorRules(statuses=STATUS_CLASSES, codes=ERROR_CODES, messages=MESSAGE_RULES)

# tool_choice: OpenAI's string forms -> Anthropic's type
_TOOL_CHOICE_TYPES: Mapping[str, str] = MappingProxyType(
    {"auto": "auto", "required": "any", "none": "none"}
)


class AnthropicMessagesAdapter:
    """POST {base_url}/v1/messages with ``x-api-key`` and ``anthropic-version``."""

    name: str = PROVIDER

    def build_request(
        self, request: CompletionRequest, target: AdapterTarget, api_key: str
    ) -> HttpCall:
        """The call for ``request``; InvalidRequest for what Anthropic cannot carry."""
        return HttpCall(
            method="POST",
            url=f"{target.base_url.rstrip('/')}/v1/messages",
            headers={
                "x-api-key": api_key,
                "anthropic-version": ANTHROPIC_VERSION,
                "content-type": "application/json",
            },
            json=request_body(request, target),
        )

    def parse_response(
        self, status_code: int, headers: Mapping[str, str], body: bytes, target: AdapterTarget
    ) -> ParsedResponse:
        """The Message in ``body`` as a chat.completion; ServerError when it is not one."""
        payload = read_json_object(body)
        if payload is None:
            raise ServerError(
                f"the answer is not a JSON object: {safe_excerpt(_text_of(body))!r}",
                status_code=status_code,
            )
        if payload.get("type") == "error":
            raise self.classify_error(status_code, headers, body)
        if not isinstance(payload.get("content"), list):
            raise ServerError("the answer has no 'content' list", status_code=status_code)
        try:
            choice = _choice(payload)
        except ServerError as exc:
            exc.status_code = status_code
            raise
        return ParsedResponse(
            id=str(payload.get("id") or ""),
            model=str(payload.get("model") or target.model_id),
            created=_created(headers),
            choices=[choice],
            usage=_usage(payload.get("usage")),
        )

    def classify_error(
        self, status_code: int, headers: Mapping[str, str], body: bytes
    ) -> ProviderError:
        """The most specific ProviderError for an error response (returned, not raised)."""
        error = _error_object(read_json_object(body))
        codes = [
            code
            for code in (_dig(error, ("details", "error_code")), error.get("type"))
            if isinstance(code, str) and code
        ]
        message = error.get("message")
        text = message if isinstance(message, str) and message else _text_of(body)
        error_class = classify(ERROR_RULES, status_code, codes, text)
        return make_error(
            error_class,
            safe_excerpt(text) or f"HTTP {status_code}",
            status_code=status_code,
            provider_code=codes[0] if codes else None,
            headers=headers,
        )


# --- building the request ----------------------------------------------------------------


def _refuse(parameter: str, why: str) -> InvalidRequest:
    return InvalidRequest(f"{parameter} is not supported by {PROVIDER}: {why}")


def request_body(request: CompletionRequest, target: AdapterTarget) -> dict[str, Any]:
    """The Messages API body for ``request`` sent to ``target``."""
    _check_unsupported(request)
    system, turns = _conversation(request.messages)
    body: dict[str, Any] = {
        "model": target.model_id,
        "max_tokens": _max_tokens(request, target),
        "messages": turns,
    }
    if system:
        body["system"] = system
    body.update(_sampling(request))
    body.update(_tools_and_format(request, target))
    if request.user is not None:
        body["metadata"] = {"user_id": request.user}
    return body


def _check_unsupported(request: CompletionRequest) -> None:
    if request.n > 1:
        raise _refuse("n", "it returns exactly one answer per request")
    if request.seed is not None:
        raise _refuse("seed", "the Messages API has no seed")
    if request.temperature is not None and request.temperature > MAX_TEMPERATURE:
        raise InvalidRequest(
            f"temperature {request.temperature} is above {PROVIDER}'s maximum of 1.0"
        )
    for index, message in enumerate(request.messages):
        if getattr(message, "name", None) is not None:
            raise _refuse(f"messages[{index}].name", "messages carry no participant name")


def _max_tokens(request: CompletionRequest, target: AdapterTarget) -> int:
    if request.output_token_limit is not None:
        return request.output_token_limit
    configured = target.options.get("max_tokens")
    if isinstance(configured, int) and not isinstance(configured, bool) and configured > 0:
        return configured
    return DEFAULT_MAX_TOKENS


def _sampling(request: CompletionRequest) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    if request.temperature is not None:
        fields["temperature"] = request.temperature
    if request.top_p is not None:
        fields["top_p"] = request.top_p
    if request.stop is not None:
        stops = [request.stop] if isinstance(request.stop, str) else list(request.stop)
        if any(not stop.strip() for stop in stops):
            raise _refuse("stop", "whitespace-only stop sequences are rejected")
        fields["stop_sequences"] = stops
    return fields


# --- the conversation --------------------------------------------------------------------


def _conversation(
    messages: Sequence[ChatMessage],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(system blocks, alternating turns) for OpenAI ``messages``."""
    system: list[dict[str, Any]] = []
    turns: list[dict[str, Any]] = []
    for index, message in enumerate(messages):
        if message.role in ("system", "developer"):
            system.extend(_text_blocks(message.content))
            continue
        role, blocks = _turn(message, index)
        if not blocks:
            continue  # Anthropic rejects empty content; an empty turn says nothing anyway
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    if not turns:
        raise _refuse("messages", "it needs at least one non-empty user or assistant message")
    for turn in turns:
        if turn["role"] == "user":
            # tool_result blocks must open the user turn that answers the tool_use
            turn["content"].sort(key=lambda block: block["type"] != "tool_result")
    _strip_prefill(turns[-1])
    return system, turns


def _turn(message: ChatMessage, index: int) -> tuple[str, list[dict[str, Any]]]:
    if isinstance(message, ToolMessage):
        return "user", [_tool_result(message)]
    if isinstance(message, AssistantMessage):
        blocks = _text_blocks(message.content)
        blocks.extend(_tool_use(call, index) for call in message.tool_calls or ())
        return "assistant", blocks
    if isinstance(message, UserMessage):
        return "user", _user_blocks(message.content)
    raise _refuse(f"messages[{index}].role", f"unexpected role {message.role!r}")


def _text_blocks(content: str | Sequence[TextContentPart] | None) -> list[dict[str, Any]]:
    texts = [content] if isinstance(content, str) else [part.text for part in content or ()]
    return [{"type": "text", "text": text} for text in texts if text]


def _user_blocks(
    content: str | Sequence[TextContentPart | ImageContentPart],
) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return _text_blocks(content)
    blocks: list[dict[str, Any]] = []
    for part in content:
        if isinstance(part, ImageContentPart):
            blocks.append(_image_block(part.image_url.url))
        elif part.text:
            blocks.append({"type": "text", "text": part.text})
    return blocks


def _image_block(url: str) -> dict[str, Any]:
    if not url.startswith("data:"):
        return {"type": "image", "source": {"type": "url", "url": url}}
    header, _, data = url.partition(",")
    media_type, _, encoding = header.removeprefix("data:").partition(";")
    if encoding != "base64" or not media_type or not data:
        raise _refuse("image_url", "a data URL must be data:<media type>;base64,<data>")
    return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}


def _tool_use(call: ToolCall, index: int) -> dict[str, Any]:
    arguments = call.function.arguments
    try:
        parsed = json.loads(arguments) if arguments.strip() else {}
    except ValueError as exc:
        raise InvalidRequest(
            f"messages[{index}].tool_calls: the arguments of {call.function.name!r} are not "
            f"valid JSON ({exc}); {PROVIDER} needs a JSON object"
        ) from exc
    if not isinstance(parsed, dict):
        raise InvalidRequest(
            f"messages[{index}].tool_calls: the arguments of {call.function.name!r} are not a "
            f"JSON object; {PROVIDER} needs one"
        )
    return {
        "type": "tool_use",
        "id": ANTHROPIC_TOOL_IDS.conform(call.id),
        "name": call.function.name,
        "input": parsed,
    }


def _tool_result(message: ToolMessage) -> dict[str, Any]:
    block: dict[str, Any] = {
        "type": "tool_result",
        "tool_use_id": ANTHROPIC_TOOL_IDS.conform(message.tool_call_id),
    }
    if isinstance(message.content, str):
        if message.content:
            block["content"] = message.content
    else:
        texts = _text_blocks(message.content)
        if texts:
            block["content"] = texts
    return block


def _strip_prefill(turn: dict[str, Any]) -> None:
    """A final assistant turn is a prefill; Anthropic rejects one ending in whitespace."""
    if turn["role"] != "assistant":
        return
    last = turn["content"][-1]
    if last["type"] == "text":
        last["text"] = last["text"].rstrip()
        if not last["text"]:
            turn["content"].pop()
    if not turn["content"]:
        raise _refuse("messages", "the final assistant message is only whitespace")


# --- tools and output format -------------------------------------------------------------


def _tools_and_format(request: CompletionRequest, target: AdapterTarget) -> dict[str, Any]:
    response_format = request.response_format
    kind = response_format.type if response_format is not None else "text"
    schema: dict[str, Any] | None = None
    if response_format is not None and response_format.json_schema is not None:
        schema = response_format.json_schema.schema_ or {"type": "object"}
    if kind == "json_schema" and schema is not None and not target.options.get(
        "json_schema_via_tool"
    ):
        fields = _tools(request)
        fields["output_config"] = {"format": {"type": "json_schema", "schema": schema}}
        return fields
    if kind in ("json_object", "json_schema"):
        if request.tools:
            raise _refuse("response_format", f"{kind} cannot be combined with tools here")
        tool = {
            "name": JSON_TOOL_NAME,
            "description": "Give the answer as this tool's input: a JSON object.",
            "input_schema": schema or {"type": "object"},
        }
        return {"tools": [tool], "tool_choice": {"type": "tool", "name": JSON_TOOL_NAME}}
    return _tools(request)


def _tools(request: CompletionRequest) -> dict[str, Any]:
    if not request.tools:
        return {}  # a tool_choice without tools would be refused; there is nothing to choose
    tools = []
    for tool in request.tools:
        function = tool.function
        entry: dict[str, Any] = {
            "name": function.name,
            "input_schema": function.parameters or {"type": "object", "properties": {}},
        }
        if function.description:
            entry["description"] = function.description
        if function.strict is not None:
            entry["strict"] = function.strict
        tools.append(entry)
    fields: dict[str, Any] = {"tools": tools}
    choice = _tool_choice(request)
    if choice is not None:
        fields["tool_choice"] = choice
    return fields


def _tool_choice(request: CompletionRequest) -> dict[str, Any] | None:
    requested = request.tool_choice
    if requested is None:
        choice: dict[str, Any] = {"type": "auto"}
    elif isinstance(requested, str):
        choice = {"type": _TOOL_CHOICE_TYPES[requested]}
    else:
        choice = {"type": "tool", "name": requested.function.name}
    if request.parallel_tool_calls is False and choice["type"] != "none":
        choice["disable_parallel_tool_use"] = True
    if requested is None and len(choice) == 1:
        return None  # auto is the default: send nothing the caller did not ask for
    return choice


# --- reading the answer ------------------------------------------------------------------


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
    cache_read = _count(raw.get("cache_read_input_tokens"))
    prompt = (
        _count(raw.get("input_tokens"))
        + cache_read
        + _count(raw.get("cache_creation_input_tokens"))
    )
    completion = _count(raw.get("output_tokens"))
    return Usage(
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=prompt + completion,
        cached_tokens=cache_read,
        reasoning_tokens=_count(_dig(raw, ("output_tokens_details", "thinking_tokens"))),
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


def _dig(node: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node


def _count(value: Any) -> int:
    """A token count; null, missing or nonsense counts as 0."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0
    return max(0, int(value))


# --- reading an error --------------------------------------------------------------------


def _error_object(payload: dict[str, Any] | None) -> dict[str, Any]:
    """``error`` of ``{"type": "error", "error": {...}}``; the body itself for other shapes."""
    if payload is None:
        return {}
    inner = payload.get("error")
    if isinstance(inner, dict):
        return inner
    if isinstance(inner, str):
        return {"message": inner}
    return payload


def _text_of(body: bytes) -> str:
    return body.decode("utf-8", errors="replace")
