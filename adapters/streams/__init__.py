"""Streamed answers: for every wire format, its streaming request and an incremental parser
that turns the provider's event stream into OpenAI ``chat.completion.chunk`` dicts.

``sse`` decodes Server-Sent Events from bytes split anywhere; ``base`` holds the parser and
format interfaces and the chunk builder; one module per format (``openai`` for OpenAI, Azure and
the compatible vendors, ``anthropic``, ``gemini``, ``cohere``); ``registry`` maps a catalog's
``wire_format`` to its stream format; ``assemble`` adds a stream's chunks up to the
chat.completion the job stores. Everything here is pure: bytes in, chunks out, no I/O.
Faults raise ``adapters.errors.StreamFault``; ``adapters.errors.map_stream_error`` classifies.
"""

from adapters.streams.assemble import assemble
from adapters.streams.base import Chunk, StreamFormat, StreamParser, StreamState, usage_payload
from adapters.streams.registry import get_stream_format

__all__ = [
    "Chunk",
    "StreamFormat",
    "StreamParser",
    "StreamState",
    "assemble",
    "get_stream_format",
    "usage_payload",
]
