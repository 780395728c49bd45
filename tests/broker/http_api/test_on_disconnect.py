"""Whether a streamed chat completion's job is cancelled when its caller disconnects: yes,
unless the header or ``metadata.on_disconnect`` says ``continue``; the field is cascade's, so
the provider never sees it; another value is refused naming the field."""

from __future__ import annotations

from typing import Any

import pytest

from broker.http_api.on_disconnect import cancels_on_disconnect
from broker.http_api.openai_compat import CompatError


def test_a_caller_who_says_nothing_cancels_on_disconnect() -> None:
    assert cancels_on_disconnect(None, {"messages": []}) is True


def test_the_header_or_the_metadata_can_ask_the_job_to_continue() -> None:
    fields: dict[str, Any] = {"metadata": {"on_disconnect": "continue", "user": "u1"}}
    assert cancels_on_disconnect("Continue", {}) is False
    assert cancels_on_disconnect(None, fields) is False
    assert fields == {"metadata": {"user": "u1"}}  # not passed on to the provider


def test_the_header_decides_over_the_metadata_and_the_metadata_goes_either_way() -> None:
    fields: dict[str, Any] = {"metadata": {"on_disconnect": "continue"}}
    assert cancels_on_disconnect("cancel", fields) is True
    assert "metadata" not in fields


@pytest.mark.parametrize(
    ("header", "fields", "param"),
    [
        ("later", {}, "x-cascade-on-disconnect"),
        (None, {"metadata": {"on_disconnect": "sometimes"}}, "metadata.on_disconnect"),
    ],
)
def test_another_value_is_refused_naming_the_field(
    header: str | None, fields: dict[str, Any], param: str
) -> None:
    with pytest.raises(CompatError) as caught:
        cancels_on_disconnect(header, fields)
    assert caught.value.param == param and param in caught.value.message
