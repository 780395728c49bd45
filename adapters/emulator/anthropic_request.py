"""The body of a Messages API request (``POST /v1/messages``), as the emulator checks it.

Only what Anthropic would refuse is checked (the fields below, their types and ranges); every
other field is accepted and ignored, as the API does for fields it does not know. Shapes from
anthropic-sdk-python's ``types/message_create_params.py`` and
/work/shared/reference/provider-formats.md section 3.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ContentBlock",
    "MessagesRequest",
    "OutputConfig",
    "OutputFormat",
    "RequestMessage",
    "RequestTool",
    "TextBlock",
    "ToolChoice",
]


class TextBlock(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: Literal["text"]
    text: str


class ContentBlock(BaseModel):
    """Any content block; only ``type`` is checked."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(min_length=1)


class RequestMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Literal["user", "assistant"]
    content: str | list[ContentBlock]


class RequestTool(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str = Field(min_length=1, max_length=128)
    input_schema: dict[str, Any]


class ToolChoice(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: Literal["auto", "any", "tool", "none"]
    name: str | None = None


class OutputFormat(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: Literal["json_schema"]
    schema_: dict[str, Any] = Field(alias="schema")


class OutputConfig(BaseModel):
    model_config = ConfigDict(extra="allow")

    format: OutputFormat | None = None


class MessagesRequest(BaseModel):
    """The fields the emulator checks; everything else is accepted and ignored."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1)
    messages: list[RequestMessage] = Field(min_length=1)
    max_tokens: int = Field(ge=0)
    system: str | list[TextBlock] | None = None
    temperature: float | None = Field(default=None, ge=0, le=1)
    top_p: float | None = Field(default=None, ge=0, le=1)
    stop_sequences: list[str] | None = None
    tools: list[RequestTool] | None = None
    tool_choice: ToolChoice | None = None
    output_config: OutputConfig | None = None
