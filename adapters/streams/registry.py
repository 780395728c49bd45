"""Which stream format serves which wire format: one for every adapter in ``adapters.registry``.

A stream format wraps its adapter (the streaming request is the adapter's own call with the
format's streaming switch), so a vendor's quirks apply to its streams as to its plain calls.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from adapters.anthropic import AnthropicMessagesAdapter
from adapters.base import Adapter
from adapters.cohere_chat import CohereChatAdapter
from adapters.gemini import GeminiAdapter
from adapters.openai_chat import OpenAIChatAdapter
from adapters.registry import WIRE_FORMATS, UnknownWireFormat, get_adapter
from adapters.streams.anthropic import AnthropicStreamFormat
from adapters.streams.base import StreamFormat
from adapters.streams.cohere import CohereStreamFormat
from adapters.streams.gemini import GeminiStreamFormat
from adapters.streams.openai import OpenAIStreamFormat

__all__ = ["get_stream_format"]


def _stream_format(adapter: Adapter) -> StreamFormat:
    if isinstance(adapter, OpenAIChatAdapter):  # Azure and the compatible vendors too
        return OpenAIStreamFormat(adapter)
    if isinstance(adapter, AnthropicMessagesAdapter):
        return AnthropicStreamFormat(adapter)
    if isinstance(adapter, GeminiAdapter):
        return GeminiStreamFormat(adapter)
    if isinstance(adapter, CohereChatAdapter):
        return CohereStreamFormat(adapter)
    raise TypeError(f"no stream format for the {adapter.name!r} adapter")


_FORMATS: Mapping[str, StreamFormat] = MappingProxyType(
    {name: _stream_format(get_adapter(name)) for name in WIRE_FORMATS}
)


def get_stream_format(wire_format: str) -> StreamFormat:
    """The stream format for ``wire_format``; UnknownWireFormat (a KeyError) otherwise."""
    try:
        return _FORMATS[wire_format]
    except KeyError:
        raise UnknownWireFormat(wire_format) from None
