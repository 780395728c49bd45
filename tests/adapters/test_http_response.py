"""The shared response readers: JSON bodies, headers and loggable excerpts."""

from __future__ import annotations

from adapters.http_response import header_value, read_json, read_json_object, safe_excerpt


def test_json_object_body_is_read() -> None:
    assert read_json_object(b'{"a": 1}') == {"a": 1}


def test_non_object_or_broken_bodies_read_as_none() -> None:
    assert read_json_object(b"[1]") is None
    assert read_json_object(b"") is None
    assert read_json_object(b"{not json") is None
    assert read_json_object(b"\xff\xfe\x00") is None
    assert read_json(b"[1]") == [1]


def test_header_lookup_ignores_case() -> None:
    assert header_value({"X-Request-Id": "req_1"}, "x-request-id") == "req_1"
    assert header_value({}, "x-request-id") is None


def test_excerpt_is_one_line_and_cut_to_the_limit() -> None:
    excerpt = safe_excerpt("a\n b\t c" + "x" * 500, limit=20)
    assert excerpt.startswith("a b c")
    assert len(excerpt) == 20
    assert excerpt.endswith("...")


def test_excerpt_masks_key_shaped_tokens() -> None:
    text = "bad key sk-proj-AbC123xyz789 and AIzaSyA1234567890abcdefghijklmnop"
    excerpt = safe_excerpt(text)
    assert "sk-proj-AbC123xyz789" not in excerpt
    assert "AIzaSyA1234567890abcdefghijklmnop" not in excerpt
    assert excerpt.count("[redacted]") == 2
