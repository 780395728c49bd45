"""The request a caller submits: an OpenAI chat-completions body, less ``model`` and ``stream``.

https://platform.openai.com/docs/api-reference/chat; the field list follows openai-python's
``CompletionCreateParamsBase`` (``types/chat/completion_create_params.py``). Every model refuses
unknown fields, so a typo is an error that names its path instead of a silently ignored setting.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, ValidationInfo, field_validator, model_validator

from broker.strict import Strict as _Strict

__all__ = [
    "AssistantMessage",
    "ChatMessage",
    "CompletionRequest",
    "ContentPart",
    "DeveloperMessage",
    "FunctionCall",
    "FunctionDefinition",
    "ImageContentPart",
    "ImageURL",
    "NamedToolChoice",
    "Prediction",
    "ReasoningEffort",
    "ResponseFormat",
    "StreamOptions",
    "SystemMessage",
    "TextContentPart",
    "ToolCall",
    "ToolDefinition",
    "ToolMessage",
    "UserMessage",
]


# --- request: message content -------------------------------------------------------------


class TextContentPart(_Strict):
    type: Literal["text"]
    text: str


class ImageURL(_Strict):
    url: str = Field(min_length=1)
    detail: Literal["auto", "low", "high"] | None = None

    @field_validator("url")
    @classmethod
    def _http_or_data_url(cls, url: str) -> str:
        if not url.startswith(("http://", "https://", "data:")):
            raise ValueError("must be an http(s) URL or a data: URL")
        return url


class ImageContentPart(_Strict):
    type: Literal["image_url"]
    image_url: ImageURL


ContentPart = Annotated[TextContentPart | ImageContentPart, Field(discriminator="type")]


class FunctionCall(_Strict):
    name: str = Field(min_length=1)
    arguments: str  # a JSON document as a string, as OpenAI sends it


class ToolCall(_Strict):
    id: str = Field(min_length=1)
    type: Literal["function"] = "function"
    function: FunctionCall


class SystemMessage(_Strict):
    role: Literal["system"]
    content: str | list[TextContentPart]
    name: str | None = None


class DeveloperMessage(_Strict):
    role: Literal["developer"]
    content: str | list[TextContentPart]
    name: str | None = None


class UserMessage(_Strict):
    role: Literal["user"]
    content: str | list[ContentPart]
    name: str | None = None


class AssistantMessage(_Strict):
    role: Literal["assistant"]
    content: str | list[TextContentPart] | None = None
    name: str | None = None
    tool_calls: list[ToolCall] | None = None
    refusal: str | None = None

    @model_validator(mode="after")
    def _content_or_tool_calls(self) -> AssistantMessage:
        if self.content is None and not self.tool_calls:
            raise ValueError("an assistant message needs content or tool_calls")
        return self


class ToolMessage(_Strict):
    role: Literal["tool"]
    content: str | list[TextContentPart]
    tool_call_id: str = Field(min_length=1)


ChatMessage = Annotated[
    SystemMessage | DeveloperMessage | UserMessage | AssistantMessage | ToolMessage,
    Field(discriminator="role"),
]


# --- request: tools and output format ----------------------------------------------------


class FunctionDefinition(_Strict):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[a-zA-Z0-9_-]+$")
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class ToolDefinition(_Strict):
    type: Literal["function"]
    function: FunctionDefinition


class _ToolChoiceFunction(_Strict):
    name: str = Field(min_length=1)


class NamedToolChoice(_Strict):
    type: Literal["function"]
    function: _ToolChoiceFunction


class _JsonSchemaSpec(_Strict):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[a-zA-Z0-9_-]+$")
    description: str | None = None
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    strict: bool | None = None

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class ResponseFormat(_Strict):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: _JsonSchemaSpec | None = None

    @model_validator(mode="after")
    def _schema_when_needed(self) -> ResponseFormat:
        if self.type == "json_schema" and self.json_schema is None:
            raise ValueError("type 'json_schema' needs a json_schema object")
        if self.type != "json_schema" and self.json_schema is not None:
            raise ValueError(
                f"json_schema is only allowed with type 'json_schema', not {self.type!r}"
            )
        return self


class Prediction(_Strict):
    """Predicted output (``prediction``): text most of the answer is expected to repeat."""

    type: Literal["content"]
    content: str | list[TextContentPart]


class StreamOptions(_Strict):
    include_usage: bool | None = None
    include_obfuscation: bool | None = None


ReasoningEffort = Literal["none", "minimal", "low", "medium", "high", "xhigh", "max"]

# Parameters the SDK documents that cascade refuses outright, and why (a field validator
# raises these, so the error names the field rather than calling it unknown).
_REFUSED: dict[str, str] = {
    "audio": "audio output is not supported: cascade answers in text",
    "functions": "the deprecated functions parameter is not supported; use tools",
    "function_call": "the deprecated function_call parameter is not supported; use tool_choice",
}


# --- request ------------------------------------------------------------------------------


class CompletionRequest(_Strict):
    """An OpenAI chat-completions request body, without ``model`` and ``stream``."""

    messages: list[ChatMessage] = Field(min_length=1)
    tools: list[ToolDefinition] | None = None
    tool_choice: Literal["none", "auto", "required"] | NamedToolChoice | None = None
    parallel_tool_calls: bool | None = None
    response_format: ResponseFormat | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    stop: str | list[str] | None = None
    seed: int | None = None
    n: int = Field(default=1, ge=1, le=128)
    user: str | None = None
    metadata: dict[str, str] | None = None
    # Sampling and output controls: each is a routing need (routing/parameters.py says which
    # wire formats carry which), so a target that cannot carry one is left off the route.
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)
    presence_penalty: float | None = Field(default=None, ge=-2, le=2)
    logit_bias: dict[str, int] | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = Field(default=None, ge=0, le=20)
    reasoning_effort: ReasoningEffort | None = None
    verbosity: Literal["low", "medium", "high"] | None = None
    web_search_options: dict[str, Any] | None = None
    moderation: dict[str, Any] | None = None
    modalities: list[Literal["text", "audio"]] | None = None
    # Hints about how a provider serves the call: sent where the format has them, otherwise
    # left out; never a reason to drop a target.
    service_tier: Literal["auto", "default", "flex", "scale", "priority", "fast"] | None = None
    prediction: Prediction | None = None
    prompt_cache_key: str | None = None
    prompt_cache_retention: Literal["in_memory", "24h"] | None = None
    prompt_cache_options: dict[str, Any] | None = None
    safety_identifier: str | None = None
    # Read by the HTTP API for a streamed answer (include_usage); never sent as given: each
    # stream format asks its provider for the usage itself.
    stream_options: StreamOptions | None = None
    store: bool | None = None
    # Documented by OpenAI, refused by cascade with the reason (see _REFUSED).
    audio: dict[str, Any] | None = None
    functions: list[dict[str, Any]] | None = None
    function_call: str | dict[str, Any] | None = None

    @field_validator("audio", "functions", "function_call")
    @classmethod
    def _refused(cls, value: Any, info: ValidationInfo) -> Any:
        if value is not None:
            raise ValueError(_REFUSED[str(info.field_name)])
        return value

    @field_validator("modalities")
    @classmethod
    def _text_only(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and "audio" in value:
            raise ValueError(_REFUSED["audio"] + " (use modalities ['text'])")
        return value

    @field_validator("store")
    @classmethod
    def _never_stored(cls, value: bool | None) -> bool | None:
        # A provider-side copy of every prompt is the operator's decision, not a caller's.
        if value:
            raise ValueError("cascade never asks a provider to store completions; leave it false")
        return value

    @field_validator("stop")
    @classmethod
    def _at_most_four_stops(cls, stop: str | list[str] | None) -> str | list[str] | None:
        if isinstance(stop, list) and not 1 <= len(stop) <= 4:
            raise ValueError("stop takes 1 to 4 sequences")
        return stop

    @model_validator(mode="after")
    def _tool_choice_needs_tools(self) -> CompletionRequest:
        if isinstance(self.tool_choice, NamedToolChoice):
            names = {tool.function.name for tool in self.tools or []}
            if self.tool_choice.function.name not in names:
                raise ValueError(
                    f"tool_choice names {self.tool_choice.function.name!r}, which is not in tools"
                )
        elif self.tool_choice == "required" and not self.tools:
            raise ValueError("tool_choice 'required' needs at least one tool")
        if self.top_logprobs is not None and not self.logprobs:
            raise ValueError("top_logprobs needs logprobs: true")
        return self

    @property
    def output_token_limit(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens
