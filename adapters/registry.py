"""Which adapter speaks which wire format: the catalog's ``wire_format`` name -> an Adapter.

Adapters are stateless, so one shared instance per format serves every worker thread.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from adapters.anthropic import AnthropicMessagesAdapter
from adapters.azure_openai import AzureOpenAIAdapter
from adapters.base import Adapter
from adapters.cohere_chat import CohereChatAdapter
from adapters.gemini import GeminiAdapter
from adapters.openai_chat import OpenAIChatAdapter
from adapters.openai_vendors import COMPAT_VENDORS

__all__ = ["WIRE_FORMATS", "UnknownWireFormat", "get_adapter"]

_INSTANCES: tuple[Adapter, ...] = (
    OpenAIChatAdapter(),
    GeminiAdapter(),
    AnthropicMessagesAdapter(),
    AzureOpenAIAdapter(),
    CohereChatAdapter(),
    *COMPAT_VENDORS,
)

_ADAPTERS: Mapping[str, Adapter] = MappingProxyType(
    {adapter.name: adapter for adapter in _INSTANCES}
)

WIRE_FORMATS: tuple[str, ...] = tuple(sorted(_ADAPTERS))


class UnknownWireFormat(KeyError):
    """No adapter speaks the wire format a catalog entry names."""

    def __init__(self, wire_format: str) -> None:
        super().__init__(wire_format)
        self.wire_format = wire_format

    def __str__(self) -> str:
        # KeyError's own __str__ would print only the quoted key
        known = ", ".join(WIRE_FORMATS)
        return f"unknown wire format {self.wire_format!r}; known formats: {known}"


def get_adapter(wire_format: str) -> Adapter:
    """The adapter for ``wire_format``; UnknownWireFormat (a KeyError) names the known ones."""
    try:
        return _ADAPTERS[wire_format]
    except KeyError:
        raise UnknownWireFormat(wire_format) from None
