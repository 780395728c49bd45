"""Reading a provider's raw HTTP response: its JSON body, its headers, a loggable excerpt.

Adapters get the body as bytes and the headers as whatever mapping the worker holds (httpx's
case-insensitive ``Headers`` or a plain dict in tests), so these helpers accept both and never
raise on a malformed answer: deciding what a malformed answer means is each adapter's job.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

__all__ = [
    "EXCERPT_LIMIT",
    "body_text",
    "header_value",
    "read_json",
    "read_json_object",
    "safe_excerpt",
]

EXCERPT_LIMIT = 300

# Key-shaped tokens (OpenAI "sk-...", Anthropic "sk-ant-...", Google "AIza...") that a provider
# might echo back in an error message; error messages end up in results and logs.
_SECRET_PATTERN = re.compile(r"\b(sk-[A-Za-z0-9_\-*]{6,}|AIza[A-Za-z0-9_\-]{20,})")


def read_json(body: bytes) -> Any | None:
    """The JSON document in ``body``, or None when it is empty or not JSON."""
    if not body:
        return None
    try:
        return json.loads(body)
    except (UnicodeDecodeError, ValueError):
        return None


def read_json_object(body: bytes) -> dict[str, Any] | None:
    """The JSON object in ``body``, or None when it is not JSON or not an object."""
    document = read_json(body)
    return document if isinstance(document, dict) else None


def body_text(body: bytes) -> str:
    """``body`` as text, undecodable bytes replaced: for messages and excerpts only."""
    return body.decode("utf-8", errors="replace")


def header_value(headers: Mapping[str, str], name: str) -> str | None:
    """The value of header ``name`` whatever its case in ``headers``, or None when absent."""
    value = headers.get(name)
    if value is not None:
        return value
    wanted = name.lower()
    for key, candidate in headers.items():
        if key.lower() == wanted:
            return candidate
    return None


def safe_excerpt(text: str, limit: int = EXCERPT_LIMIT) -> str:
    """``text`` on one line, key-shaped tokens masked, cut to ``limit`` characters."""
    flat = " ".join(_SECRET_PATTERN.sub("[redacted]", text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."
