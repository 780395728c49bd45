"""The Messages API request body for a cascade (OpenAI-shaped) request.

System and developer messages go to the top-level ``system``; the rest become alternating
user/assistant turns of content blocks; JSON output goes to structured outputs or to a forced
reserved tool (the package docstring says which and why). What Anthropic cannot carry raises
InvalidRequest naming the parameter.

Sources: anthropic-sdk-python ``types/message_create_params.py`` and
https://docs.claude.com/en/api/messages (provider-formats.md section 3.2).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

from adapters.anthropic.thinking import thinking_fields
from adapters.base import AdapterTarget
from adapters.errors import InvalidRequest
from adapters.request_fields import ArgumentsNotObject, stop_list, tool_arguments
from adapters.tool_ids import ANTHROPIC_TOOL_IDS
from broker.jobs import (
    AssistantMessage,
    ChatMessage,
    CompletionRequest,
    ImageContentPart,
    TextContentPart,
    ToolCall,
    ToolMessage,
    UserMessage,
)

__all__ = [
    "ANTHROPIC_VERSION",
    "DEFAULT_MAX_TOKENS",
    "JSON_TOOL_NAME",
    "PROVIDER",
    "request_body",
]

PROVIDER = "anthropic"
ANTHROPIC_VERSION = "2023-06-01"  # the only version the anthropic SDK sends
DEFAULT_MAX_TOKENS = 4096
MAX_TEMPERATURE = 1.0
# the reserved tool that carries json_object (and fallback json_schema) output
JSON_TOOL_NAME = "cascade_json_output"

# tool_choice: OpenAI's string forms -> Anthropic's type
_TOOL_CHOICE_TYPES: Mapping[str, str] = MappingProxyType(
    {"auto": "auto", "required": "any", "none": "none"}
)


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
    _add_thinking(body, request, target)
    if request.user is not None:
        body["metadata"] = {"user_id": request.user}
    return body


def _add_thinking(body: dict[str, Any], request: CompletionRequest, target: AdapterTarget) -> None:
    fields = thinking_fields(
        request.reasoning_effort,
        target.model_id,
        body["max_tokens"],
        limit_given=request.output_token_limit is not None,
    )
    output_config = fields.pop("output_config", None)
    body.update(fields)
    if output_config is not None:
        # structured outputs may already have put a format there
        body["output_config"] = {**body.get("output_config", {}), **output_config}


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
        stops = stop_list(request.stop)
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
    try:
        parsed = tool_arguments(call.function.arguments)
    except ArgumentsNotObject:
        raise InvalidRequest(
            f"messages[{index}].tool_calls: the arguments of {call.function.name!r} are not a "
            f"JSON object; {PROVIDER} needs one"
        ) from None
    except ValueError as exc:
        raise InvalidRequest(
            f"messages[{index}].tool_calls: the arguments of {call.function.name!r} are not "
            f"valid JSON ({exc}); {PROVIDER} needs a JSON object"
        ) from exc
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
