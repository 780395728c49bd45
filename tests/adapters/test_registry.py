"""get_adapter: wire-format names to adapters."""

from __future__ import annotations

import pytest

from adapters.openai_chat import OpenAIChatAdapter
from adapters.registry import WIRE_FORMATS, UnknownWireFormat, get_adapter


def test_openai_is_served_by_the_openai_chat_adapter() -> None:
    adapter = get_adapter("openai")
    assert isinstance(adapter, OpenAIChatAdapter)
    assert adapter.name == "openai"


def test_every_known_format_resolves_to_an_adapter_of_that_name() -> None:
    assert "openai" in WIRE_FORMATS
    for wire_format in WIRE_FORMATS:
        assert get_adapter(wire_format).name == wire_format


def test_an_unknown_format_is_a_key_error_naming_the_known_ones() -> None:
    with pytest.raises(KeyError) as raised:
        get_adapter("smoke-signals")
    assert isinstance(raised.value, UnknownWireFormat)
    text = str(raised.value)
    assert "'smoke-signals'" in text
    assert "openai" in text
