"""get_stream_format (adapters/streams/registry.py): a stream format for every wire format."""

from __future__ import annotations

import pytest

from adapters.base import AdapterTarget
from adapters.registry import WIRE_FORMATS, UnknownWireFormat
from adapters.streams import get_stream_format
from broker.jobs import CompletionRequest

REQUEST = CompletionRequest.model_validate({"messages": [{"role": "user", "content": "hi"}]})


@pytest.mark.parametrize("wire_format", WIRE_FORMATS)
def test_every_wire_format_streams_with_a_fresh_parser(wire_format: str) -> None:
    stream = get_stream_format(wire_format)
    assert stream.name == wire_format
    target = AdapterTarget(wire_format, "https://example.test/v1", "m", {"api_version": "v1"})
    call = stream.build_stream_request(REQUEST, target, "key")
    assert call.json.get("stream") is True or call.params.get("alt") == "sse"
    first, second = stream.parser(target), stream.parser(target)
    assert first is not second and first.state == "open"


def test_an_unknown_wire_format_names_the_known_ones() -> None:
    with pytest.raises(UnknownWireFormat, match="known formats: "):
        get_stream_format("telepathy")
