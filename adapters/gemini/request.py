"""The generateContent request body for a cascade (OpenAI-shaped) request.

System and developer messages become ``systemInstruction``, turns become ``contents`` with roles
``user``/``model``, tool calls ``functionCall`` parts and tool results ``functionResponse`` parts
in a ``user`` turn, tools one Tool of ``functionDeclarations`` (provider-formats.md section 4.2).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

from adapters.errors import InvalidRequest
from adapters.gemini.signatures import MIGRATED_SIGNATURE, decode_tool_call_id
from adapters.gemini.thinking import thinking_config
from adapters.request_fields import ArgumentsNotObject, content_text, stop_list, tool_arguments
from broker.jobs import (
    AssistantMessage,
    ChatMessage,
    CompletionRequest,
    DeveloperMessage,
    ImageContentPart,
    NamedToolChoice,
    SystemMessage,
    ToolCall,
    ToolMessage,
    UserMessage,
)

__all__ = ["API_VERSION", "PROVIDER_LABEL", "request_body"]

PROVIDER_LABEL = "Gemini generateContent"
API_VERSION = "v1beta"

_DATA_URL = re.compile(
    r"^data:(?P<mime>[\w.+-]+/[\w.+-]+)(?P<params>(;[^,;]*)*),(?P<data>.*)$", re.S
)

_FUNCTION_CALLING_MODES: Mapping[str, str] = MappingProxyType(
    {"none": "NONE", "auto": "AUTO", "required": "ANY"}
)


def request_body(request: CompletionRequest, model_id: str = "") -> dict[str, Any]:
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
    thinking = thinking_config(request.reasoning_effort, model_id)
    if thinking is not None:
        generation["thinkingConfig"] = thinking
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


def _system_instruction(messages: Sequence[ChatMessage]) -> dict[str, Any] | None:
    # Gemini has one system instruction; every system/developer message joins it, in order
    texts = [
        content_text(m.content)
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
    text = content_text(message.content)
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
        args = tool_arguments(call.function.arguments)
    except ArgumentsNotObject:
        raise _invalid(where, "must be a JSON object") from None
    except ValueError as exc:
        raise _invalid(where, f"is not valid JSON ({exc})") from exc
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
    text = content_text(message.content)
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
        "presencePenalty": request.presence_penalty,
        "frequencyPenalty": request.frequency_penalty,
    }
    config.update({key: value for key, value in optional.items() if value is not None})
    if request.stop is not None:
        config["stopSequences"] = stop_list(request.stop)
    if request.n > 1:
        config["candidateCount"] = request.n
    if request.logprobs:
        config["responseLogprobs"] = True
        if request.top_logprobs:
            config["logprobs"] = request.top_logprobs
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
