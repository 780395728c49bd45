"""Google's Gemini ``generateContent`` wire format (the Developer API, not Vertex AI).

``POST {base_url}/v1beta/models/{model}:generateContent`` with the key in ``x-goog-api-key``.
The request is rebuilt from OpenAI's shape (provider-formats.md section 4): system and developer
messages become ``systemInstruction``, turns become ``contents`` with roles ``user``/``model``,
tool calls become ``functionCall`` parts and tool results ``functionResponse`` parts in a ``user``
turn, tools one Tool of ``functionDeclarations``.

Thought signatures (Gemini 3 and 2.5 thinking models, provider-formats.md section 8.2): a
``functionCall`` part may carry an opaque ``thoughtSignature`` that must come back unchanged on
that part in the next request. OpenAI's shape has no slot for it, so the signature rides inside
the tool-call id this adapter generates (``call_<hex>__ts__<base64url>``) and is taken out again
when the conversation returns. A history from another provider has no signature: its first
``functionCall`` of each model turn gets Google's documented placeholder
``skip_thought_signature_validator``
(https://ai.google.dev/gemini-api/docs/thought-signatures, FAQ on transferring history from
other models; the same value is on the Vertex page
https://docs.cloud.google.com/vertex-ai/generative-ai/docs/thought-signatures). Risk: the
placeholder skips validation but the model loses its earlier reasoning for that step.

Usage convention (broker.jobs.Usage, OpenAI's): ``completion_tokens`` = ``candidatesTokenCount``
+ ``thoughtsTokenCount`` (Gemini counts thinking apart from the candidates, python-genai
``GenerateContentResponseUsageMetadata``), ``reasoning_tokens`` = ``thoughtsTokenCount``,
``prompt_tokens`` = ``promptTokenCount`` (it includes ``cachedContentTokenCount``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

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
    TargetError,
    TransientError,
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
from adapters.http_response import read_json_object, safe_excerpt
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
    TextContentPart,
    ToolCall,
    ToolMessage,
    Usage,
    UserMessage,
)

__all__ = [
    "API_VERSION",
    "ERROR_FINISH_REASONS",
    "ERROR_REASONS",
    "FINISH_REASON_TABLE",
    "MESSAGE_RULES",
    "MIGRATED_SIGNATURE",
    "PROVIDER_LABEL",
    "STATUS_CLASSES",
    "GeminiAdapter",
    "decode_tool_call_id",
    "encode_tool_call_id",
    "parse_duration",
    "parsed_response",
    "request_body",
    "retry_delay",
    "usage_from",
]

PROVIDER_LABEL = "Gemini generateContent"
API_VERSION = "v1beta"

# Google's documented placeholder for function calls the model did not produce itself.
MIGRATED_SIGNATURE = "skip_thought_signature_validator"

_SIGNATURE_SEPARATOR = "__ts__"

# candidates[].finishReason -> OpenAI finish_reason. Values from python-genai types.FinishReason,
# documented at https://ai.google.dev/api/generate-content#FinishReason. STOP becomes
# "tool_calls" when the candidate carries function calls (Gemini says STOP for those).
FINISH_REASON_TABLE: FinishReasonTable = MappingProxyType(
    {
        "STOP": "stop",
        "MAX_TOKENS": "length",
        # the per-request token limit cut the answer; it can be continued, like "length"
        "CONTINUATION": "length",
        "SAFETY": "content_filter",
        "RECITATION": "content_filter",
        "LANGUAGE": "content_filter",
        "OTHER": "content_filter",
        "BLOCKLIST": "content_filter",
        "PROHIBITED_CONTENT": "content_filter",
        "SPII": "content_filter",
        "IMAGE_SAFETY": "content_filter",
        "IMAGE_PROHIBITED_CONTENT": "content_filter",
        "IMAGE_RECITATION": "content_filter",
        "IMAGE_OTHER": "content_filter",
        "NO_IMAGE": "content_filter",
        "ESCALATION": "content_filter",
        "MODEL_ARMOR": "content_filter",
    }
)

# Finish reasons that mean no usable answer was produced: raised, not returned. A malformed or
# unexpected function call is a sampling failure that another try may avoid (ServerError); a
# missing thought signature means this target cannot take this history, another provider can.
ERROR_FINISH_REASONS: Mapping[str, type[ProviderError]] = MappingProxyType(
    {
        "MALFORMED_FUNCTION_CALL": ServerError,
        "UNEXPECTED_TOOL_CALL": ServerError,
        "TOO_MANY_TOOL_CALLS": ServerError,
        "MALFORMED_RESPONSE": ServerError,
        "FINISH_REASON_UNSPECIFIED": ServerError,
        "MISSING_THOUGHT_SIGNATURE": TargetError,
        # the account is limited for Prohibited Use Policy violations: this key cannot serve
        "PUP_LIMITED_DISABLED": AuthError,
    }
)

# HTTP status -> class, from https://ai.google.dev/gemini-api/docs/troubleshooting.
STATUS_CLASSES: StatusTable = MappingProxyType(
    {
        400: InvalidRequest,  # INVALID_ARGUMENT
        401: AuthError,  # UNAUTHENTICATED
        403: AuthError,  # PERMISSION_DENIED: key lacks access (or no key at all)
        404: ModelNotFound,  # NOT_FOUND: almost always a model id the catalog got wrong
        429: RateLimited,  # RESOURCE_EXHAUSTED
        500: ServerError,  # INTERNAL
        502: ServerError,
        503: Overloaded,  # UNAVAILABLE: "The model is overloaded. Please try again later."
        # DEADLINE_EXCEEDED is Google's own processing deadline, not our client timeout;
        # retrying may pass, and it counts toward the circuit like any server failure.
        504: ServerError,
    }
)

# ErrorInfo reasons, quota markers and google.rpc status names, which beat the HTTP status.
# INVALID_ARGUMENT and NOT_FOUND are left to the message rules and the status table: a 400
# INVALID_ARGUMENT may be a bad key or an overlong prompt.
ERROR_REASONS: ErrorCodeTable = MappingProxyType(
    {
        "API_KEY_INVALID": AuthError,  # 400 INVALID_ARGUMENT for a bad key
        "API_KEY_SERVICE_BLOCKED": AuthError,
        "SERVICE_DISABLED": AuthError,  # the API is not enabled on the key's project
        "CONSUMER_SUSPENDED": AuthError,
        "PER_DAY_QUOTA": QuotaExhausted,  # synthetic: a QuotaFailure quotaId with "PerDay"
        "UNAUTHENTICATED": AuthError,
        "PERMISSION_DENIED": AuthError,
        # "free tier is not available in your country. Please enable billing" / "User
        # location is not supported": no wait clears it, only account setup; stop using the key
        "FAILED_PRECONDITION": AuthError,
        "RESOURCE_EXHAUSTED": RateLimited,
        "INTERNAL": ServerError,
        "UNAVAILABLE": Overloaded,
        "DEADLINE_EXCEEDED": ServerError,
    }
)

# For 4xx answers whose reason and status say too little.
MESSAGE_RULES: tuple[MessageRule, ...] = (
    # "The input token count (3475108) exceeds the maximum number of tokens allowed (1048576)."
    MessageRule(r"input token count.*exceeds the maximum", ContextTooLong),
    MessageRule(r"API key not valid|API key expired", AuthError),
    MessageRule(r"missing a thought_signature", TargetError),
    MessageRule(r"models/\S+ is not found", ModelNotFound),
    # troubleshooting guide: a 404 may be a referenced image/audio/video file, not the model
    MessageRule(r"\bfile\b.*(not found|does not exist)", InvalidRequest),
)

_ERROR_RULES = ErrorRules(statuses=STATUS_CLASSES, codes=ERROR_REASONS, messages=MESSAGE_RULES)

_RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"
_QUOTA_FAILURE = "type.googleapis.com/google.rpc.QuotaFailure"
_ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"

_DATA_URL = re.compile(
    r"^data:(?P<mime>[\w.+-]+/[\w.+-]+)(?P<params>(;[^,;]*)*),(?P<data>.*)$", re.S
)

_FUNCTION_CALLING_MODES: Mapping[str, str] = MappingProxyType(
    {"none": "NONE", "auto": "AUTO", "required": "ANY"}
)


class GeminiAdapter:
    """Gemini's generateContent: Google's bodies both ways, errors by google.rpc status."""

    name: str = "gemini"

    def build_request(
        self, request: CompletionRequest, target: AdapterTarget, api_key: str
    ) -> HttpCall:
        """The call for ``request``; InvalidRequest for what generateContent cannot carry."""
        model = target.model_id.removeprefix("models/")
        return HttpCall(
            method="POST",
            url=f"{target.base_url.rstrip('/')}/{API_VERSION}/models/{model}:generateContent",
            headers={"Content-Type": "application/json", "x-goog-api-key": api_key},
            json=request_body(request),
        )

    def parse_response(
        self, status_code: int, headers: Mapping[str, str], body: bytes, target: AdapterTarget
    ) -> ParsedResponse:
        """The GenerateContentResponse in ``body`` as a chat.completion."""
        payload = read_json_object(body)
        if payload is None:
            excerpt = safe_excerpt(body.decode("utf-8", errors="replace"))
            raise ServerError(
                f"the answer is not a JSON object: {excerpt!r}", status_code=status_code
            )
        if "error" in payload and "candidates" not in payload:
            raise self.classify_error(status_code, headers, body)
        try:
            return parsed_response(payload, target)
        except ProviderError as exc:
            exc.status_code = status_code
            raise

    def classify_error(
        self, status_code: int, headers: Mapping[str, str], body: bytes
    ) -> ProviderError:
        """The ProviderError for Google's ``{"error": {code, message, status, details}}``."""
        error = _error_object(read_json_object(body))
        details = [d for d in error.get("details") or () if isinstance(d, dict)]
        codes = [*_detail_codes(details)]
        status_name = error.get("status")
        if isinstance(status_name, str) and status_name:
            codes.append(status_name)
        message = error.get("message")
        text = message if isinstance(message, str) and message else body.decode(errors="replace")
        error_class = classify(_ERROR_RULES, status_code, codes, text)
        made = make_error(
            error_class,
            safe_excerpt(text) or f"HTTP {status_code}",
            status_code=status_code,
            provider_code=codes[0] if codes else None,
            headers=headers,
        )
        delay = retry_delay(details)
        if isinstance(made, TransientError) and delay is not None:
            made.retry_after = delay
        return made


# --- thought signatures in tool-call ids -------------------------------------------------


def encode_tool_call_id(base_id: str, signature: str | None) -> str:
    """``base_id`` with ``signature`` (standard base64) appended as unpadded base64url."""
    if not signature:
        return base_id
    try:
        raw = base64.b64decode(signature, validate=False)
    except (binascii.Error, ValueError):
        return base_id
    encoded = base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")
    return f"{base_id}{_SIGNATURE_SEPARATOR}{encoded}"


def decode_tool_call_id(tool_call_id: str) -> tuple[str, str | None]:
    """(the id without its signature, the signature as standard base64 or None)."""
    base, separator, encoded = tool_call_id.partition(_SIGNATURE_SEPARATOR)
    if not separator or not encoded:
        return tool_call_id, None
    try:
        raw = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
    except (binascii.Error, ValueError):
        return tool_call_id, None
    return base, base64.b64encode(raw).decode("ascii")


# --- building the request ----------------------------------------------------------------


def request_body(request: CompletionRequest) -> dict[str, Any]:
    """The generateContent body for ``request``."""
    _refuse_unsupported(request)
    body: dict[str, Any] = {"contents": _contents(request.messages)}
    system = _system_instruction(request.messages)
    if system is not None:
        body["systemInstruction"] = system
    if request.tools:
        body["tools"] = [{"functionDeclarations": [_declaration(t) for t in request.tools]}]
        body["toolConfig"] = {"functionCallingConfig": _calling_config(request)}
    generation = _generation_config(request)
    if generation:
        body["generationConfig"] = generation
    return body


def _refuse_unsupported(request: CompletionRequest) -> None:
    if request.tools and request.parallel_tool_calls is False:
        raise InvalidRequest(
            f"parallel_tool_calls=false is not supported by {PROVIDER_LABEL}: "
            "it has no switch that limits an answer to one function call"
        )


def _invalid(where: str, problem: str) -> InvalidRequest:
    return InvalidRequest(f"{where}: {problem} ({PROVIDER_LABEL})")


def _text_of(content: str | Sequence[TextContentPart] | None) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "".join(part.text for part in content)


def _system_instruction(messages: Sequence[ChatMessage]) -> dict[str, Any] | None:
    # Gemini has one system instruction; every system/developer message joins it, in order
    texts = [
        _text_of(m.content)
        for m in messages
        if isinstance(m, SystemMessage | DeveloperMessage)
    ]
    if not texts:
        return None
    return {"parts": [{"text": "\n\n".join(texts)}]}


def _contents(messages: Sequence[ChatMessage]) -> list[dict[str, Any]]:
    names = _tool_names(messages)
    contents: list[dict[str, Any]] = []
    for index, message in enumerate(messages):
        turn = _turn(message, index, names)
        if turn is None:
            continue
        # roles must alternate: consecutive tool results (and a user message right after
        # them) go into one user turn
        if contents and contents[-1]["role"] == turn["role"]:
            contents[-1]["parts"].extend(turn["parts"])
        else:
            contents.append(turn)
    if not contents:
        raise _invalid("messages", "needs at least one user or assistant message")
    return contents


def _tool_names(messages: Sequence[ChatMessage]) -> dict[str, str]:
    """tool_call_id -> function name, from every assistant message's tool calls."""
    return {
        call.id: call.function.name
        for message in messages
        if isinstance(message, AssistantMessage)
        for call in message.tool_calls or ()
    }


def _turn(message: ChatMessage, index: int, names: Mapping[str, str]) -> dict[str, Any] | None:
    if isinstance(message, UserMessage):
        return {"role": "user", "parts": _user_parts(message, index)}
    if isinstance(message, AssistantMessage):
        return {"role": "model", "parts": _model_parts(message, index)}
    if isinstance(message, ToolMessage):
        return {"role": "user", "parts": [_function_response(message, index, names)]}
    return None  # system and developer messages went into systemInstruction


def _user_parts(message: UserMessage, index: int) -> list[dict[str, Any]]:
    if isinstance(message.content, str):
        return [{"text": message.content}]
    parts: list[dict[str, Any]] = []
    for position, part in enumerate(message.content):
        if isinstance(part, ImageContentPart):
            where = f"messages[{index}].content[{position}].image_url.url"
            parts.append(_image_part(part.image_url.url, where))
        else:
            parts.append({"text": part.text})
    return parts


def _image_part(url: str, where: str) -> dict[str, Any]:
    """A data URL inline; an https URL as fileData, which the Developer API fetches itself
    since 2026-01-12 ("External URLs (public / signed)", https://blog.google/
    innovation-and-ai/technology/developers-tools/gemini-api-new-file-limits;
    https://ai.google.dev/gemini-api/docs/file-input-methods). ``mimeType`` is optional on
    FileData and OpenAI's image_url carries none, so it is left out."""
    if url.startswith("data:"):
        found = _DATA_URL.match(url)
        if found is None or ";base64" not in found.group("params"):
            raise _invalid(where, "only base64 data URLs (data:<mime>;base64,...) are supported")
        return {"inlineData": {"mimeType": found.group("mime"), "data": found.group("data")}}
    if url.startswith("https://"):
        return {"fileData": {"fileUri": url}}
    raise _invalid(where, "plain http:// image URLs are not fetched; use https:// or a data URL")


def _model_parts(message: AssistantMessage, index: int) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    text = _text_of(message.content)
    if text:
        parts.append({"text": text})
    calls = [
        _function_call(call, index, position)
        for position, call in enumerate(message.tool_calls or ())
    ]
    if calls and not any("thoughtSignature" in call for call in calls):
        # history from another provider (or an id another vendor rewrote)
        calls[0]["thoughtSignature"] = MIGRATED_SIGNATURE
    parts.extend(calls)
    if not parts:
        # an assistant message with empty content and no calls still holds its turn
        parts.append({"text": ""})
    return parts


def _function_call(call: ToolCall, index: int, position: int) -> dict[str, Any]:
    where = f"messages[{index}].tool_calls[{position}].function.arguments"
    try:
        args = json.loads(call.function.arguments) if call.function.arguments.strip() else {}
    except ValueError as exc:
        raise _invalid(where, f"is not valid JSON ({exc})") from exc
    if not isinstance(args, dict):
        raise _invalid(where, "must be a JSON object")
    part: dict[str, Any] = {"functionCall": {"name": call.function.name, "args": args}}
    _, signature = decode_tool_call_id(call.id)
    if signature is not None:
        part["thoughtSignature"] = signature
    return part


def _function_response(
    message: ToolMessage, index: int, names: Mapping[str, str]
) -> dict[str, Any]:
    name = names.get(message.tool_call_id)
    if name is None:
        raise _invalid(
            f"messages[{index}].tool_call_id",
            f"{message.tool_call_id!r} matches no earlier assistant tool call, and Gemini "
            "needs the function name",
        )
    text = _text_of(message.content)
    # python-genai FunctionResponse.response: use "output" for the function's output
    return {"functionResponse": {"name": name, "response": {"output": _json_or_text(text)}}}


def _json_or_text(text: str) -> Any:
    """A JSON object or array stays structured for the model; anything else stays text."""
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if isinstance(value, dict | list) else text


def _declaration(tool: Any) -> dict[str, Any]:
    function = tool.function
    declaration: dict[str, Any] = {"name": function.name}
    if function.description:
        declaration["description"] = function.description
    if function.parameters:
        # parametersJsonSchema takes standard JSON Schema (FunctionDeclaration in
        # https://ai.google.dev/api/caching#FunctionDeclaration, python-genai
        # FunctionDeclaration.parameters_json_schema), so no OpenAPI-subset rewrite is needed
        declaration["parametersJsonSchema"] = function.parameters
    return declaration


def _calling_config(request: CompletionRequest) -> dict[str, Any]:
    choice = request.tool_choice
    if isinstance(choice, NamedToolChoice):
        return {"mode": "ANY", "allowedFunctionNames": [choice.function.name]}
    return {"mode": _FUNCTION_CALLING_MODES[choice or "auto"]}


def _generation_config(request: CompletionRequest) -> dict[str, Any]:
    config: dict[str, Any] = {}
    optional = {
        "temperature": request.temperature,
        "topP": request.top_p,
        "maxOutputTokens": request.output_token_limit,
        "seed": request.seed,
    }
    config.update({key: value for key, value in optional.items() if value is not None})
    if request.stop is not None:
        config["stopSequences"] = [request.stop] if isinstance(request.stop, str) else request.stop
    if request.n > 1:
        config["candidateCount"] = request.n
    config.update(_response_format(request))
    return config


def _response_format(request: CompletionRequest) -> dict[str, Any]:
    response_format = request.response_format
    if response_format is None or response_format.type == "text":
        return {}
    config: dict[str, Any] = {"responseMimeType": "application/json"}
    spec = response_format.json_schema
    if spec is not None and spec.schema_ is not None:
        # responseJsonSchema: standard JSON Schema (GenerationConfig in
        # https://ai.google.dev/api/generate-content#generationconfig); name/strict have no slot
        config["responseJsonSchema"] = spec.schema_
    return config


# --- reading the answer ------------------------------------------------------------------


def parsed_response(payload: Mapping[str, Any], target: AdapterTarget) -> ParsedResponse:
    """A GenerateContentResponse as a chat.completion; ContentBlocked for a refused prompt."""
    candidates = payload.get("candidates")
    feedback = payload.get("promptFeedback")
    if not candidates:
        reason = feedback.get("blockReason") if isinstance(feedback, dict) else None
        if reason:
            # the prompt itself was refused: DESIGN's ContentBlocked (reroute if allowed)
            raise ContentBlocked(
                f"{PROVIDER_LABEL} blocked the prompt: promptFeedback.blockReason {reason}",
                provider_code=str(reason),
            )
        raise ServerError("the answer has no candidates")
    if not isinstance(candidates, list):
        raise ServerError("the answer's candidates is not a list")
    response_id = str(payload.get("responseId") or "")
    choices = [
        _choice(candidate, position, response_id)
        for position, candidate in enumerate(candidates)
    ]
    return ParsedResponse(
        id=response_id or f"gemini-{_digest(payload)}",
        model=str(payload.get("modelVersion") or target.model_id),
        created=int(time.time()),
        choices=choices,
        usage=usage_from(payload.get("usageMetadata")),
    )


def _choice(candidate: Any, position: int, response_id: str) -> Choice:
    if not isinstance(candidate, dict):
        raise ServerError(f"candidate {position} is not an object")
    native = candidate.get("finishReason")
    if isinstance(native, str) and native in ERROR_FINISH_REASONS:
        raise ERROR_FINISH_REASONS[native](
            f"the generation failed: finishReason {native}", provider_code=native
        )
    index = candidate.get("index")
    index = index if isinstance(index, int) else position
    content = candidate.get("content")
    parts = content.get("parts") if isinstance(content, dict) else None
    parts = [part for part in parts or () if isinstance(part, dict)]
    texts = [p["text"] for p in parts if isinstance(p.get("text"), str) and not p.get("thought")]
    calls = [
        _tool_call(part, response_id, index, number)
        for number, part in enumerate(p for p in parts if isinstance(p.get("functionCall"), dict))
    ]
    unknown: FinishReason = "tool_calls" if calls else "stop"
    finish = finish_reason_from(FINISH_REASON_TABLE, native, unknown=unknown)
    if calls and finish == "stop":
        finish = "tool_calls"
    return Choice(
        index=index,
        message=ResponseMessage(
            content="".join(texts) if texts else None,
            tool_calls=calls or None,
        ),
        finish_reason=finish,
    )


def _tool_call(part: Mapping[str, Any], response_id: str, index: int, number: int) -> ToolCall:
    call = part["functionCall"]
    name = call.get("name")
    if not isinstance(name, str) or not name:
        raise ServerError("a functionCall part has no name")
    args = call.get("args")
    args = args if isinstance(args, dict) else {}
    arguments = json.dumps(args, ensure_ascii=False)
    # deterministic: the same answer gives the same ids (the Developer API sends none)
    base = "call_" + hashlib.sha256(
        json.dumps([response_id, index, number, name, arguments]).encode("utf-8")
    ).hexdigest()[:24]
    signature = part.get("thoughtSignature")
    return ToolCall.model_validate(
        {
            "id": encode_tool_call_id(base, signature if isinstance(signature, str) else None),
            "type": "function",
            "function": {"name": name, "arguments": arguments},
        }
    )


def usage_from(raw: Any) -> Usage:
    """usageMetadata in OpenAI's convention (see the module docstring)."""
    if not isinstance(raw, dict):
        return Usage()
    prompt = _count(raw.get("promptTokenCount"))
    thoughts = _count(raw.get("thoughtsTokenCount"))
    completion = _count(raw.get("candidatesTokenCount")) + thoughts
    return Usage(
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=_count(raw.get("totalTokenCount")) or prompt + completion,
        cached_tokens=_count(raw.get("cachedContentTokenCount")),
        reasoning_tokens=thoughts,
    )


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0
    return max(0, int(value))


def _digest(payload: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:24]


# --- reading an error --------------------------------------------------------------------


def _error_object(payload: dict[str, Any] | None) -> dict[str, Any]:
    if payload is None:
        return {}
    inner = payload.get("error")
    if isinstance(inner, dict):
        return inner
    # python-genai APIError also reads code/status/message from the top level
    return payload


def _detail_codes(details: Iterable[Mapping[str, Any]]) -> Iterable[str]:
    """ErrorInfo reasons, and PER_DAY_QUOTA when a QuotaFailure names a per-day quota."""
    for detail in details:
        kind = detail.get("@type")
        if kind == _ERROR_INFO and isinstance(detail.get("reason"), str):
            yield detail["reason"]
        elif kind == _QUOTA_FAILURE and _per_day(detail.get("violations")):
            yield "PER_DAY_QUOTA"


def _per_day(violations: Any) -> bool:
    # a per-day quota does not clear by waiting the RetryInfo delay
    # (gke-labs/gemini-for-kubernetes-development#1215)
    return any(
        isinstance(v, dict) and "PerDay" in str(v.get("quotaId", ""))
        for v in violations or ()
    )


def retry_delay(details: Iterable[Mapping[str, Any]]) -> float | None:
    """Seconds from a google.rpc.RetryInfo detail's ``retryDelay`` ("37s"), or None."""
    for detail in details:
        if detail.get("@type") == _RETRY_INFO:
            delay = detail.get("retryDelay")
            if isinstance(delay, str):
                return parse_duration(delay)
            if isinstance(delay, dict):  # the proto Duration object form
                return _count(delay.get("seconds")) + _count(delay.get("nanos")) / 1e9
    return None


def parse_duration(text: str) -> float | None:
    """A protobuf JSON Duration ("57.238747106s") in seconds, or None when it is not one."""
    found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)s\s*", text)
    return float(found.group(1)) if found else None
