"""Fields of cascade's (OpenAI-shaped) request read the same way by every format that rebuilds it.

Formats whose bodies are not OpenAI's (Anthropic, Gemini, Cohere) need a message's text as one
string, the stop sequences as a list and a tool call's arguments as a JSON object; each refuses
what it cannot carry with its own wording, so the failures here are plain exceptions.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from broker.jobs import TextContentPart

__all__ = ["ArgumentsNotObject", "content_text", "stop_list", "tool_arguments"]


class ArgumentsNotObject(ValueError):
    """A tool call's arguments are valid JSON but not an object."""


def content_text(content: str | Sequence[TextContentPart] | None) -> str:
    """A message's text: the string itself, its text parts joined, or "" for none."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "".join(part.text for part in content)


def stop_list(stop: str | Sequence[str]) -> list[str]:
    """OpenAI's ``stop`` (one string or several) as a list."""
    return [stop] if isinstance(stop, str) else list(stop)


def tool_arguments(arguments: str) -> dict[str, Any]:
    """A tool call's JSON ``arguments`` as an object ({} when blank).

    Raises ``json.JSONDecodeError`` (a ValueError) when they are not JSON and
    ``ArgumentsNotObject`` when they are JSON but not an object.
    """
    parsed = json.loads(arguments) if arguments.strip() else {}
    if not isinstance(parsed, dict):
        raise ArgumentsNotObject(type(parsed).__name__)
    return parsed
