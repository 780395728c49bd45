"""Feeding a parser in pieces, and joining its chunks back into one answer per choice."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from openai.types.chat import ChatCompletionChunk

from adapters.streams import Chunk, StreamParser

__all__ = ["Joined", "feed_all", "join"]


def feed_all(parser: StreamParser, body: bytes, step: int = 0) -> list[Chunk]:
    """Every chunk of ``body`` fed ``step`` bytes at a time (0: all at once), then closed."""
    chunks: list[Chunk] = []
    if step <= 0:
        chunks += parser.feed(body)
    else:
        for start in range(0, len(body), step):
            chunks += parser.feed(body[start : start + step])
    return chunks + parser.close()


@dataclass
class Joined:
    """One choice put back together from its deltas."""

    role: str | None = None
    content: str = ""
    tool_calls: dict[int, dict[str, str]] = field(default_factory=dict)
    finish_reason: str | None = None


def join(chunks: list[Chunk]) -> tuple[dict[int, Joined], dict[str, Any] | None]:
    """The choices and the usage the chunks carry; every chunk must be a valid SDK chunk."""
    choices: dict[int, Joined] = {}
    usage: dict[str, Any] | None = None
    for chunk in chunks:
        ChatCompletionChunk.model_validate(chunk)
        if chunk.get("usage") is not None:
            assert chunk["choices"] == [], "the usage chunk carries no choices"
            usage = chunk["usage"]
        for choice in chunk["choices"]:
            joined = choices.setdefault(choice["index"], Joined())
            delta = choice["delta"]
            if "role" in delta:
                assert joined.role is None and not joined.content, "role comes first, once"
                joined.role = delta["role"]
            joined.content += delta.get("content") or ""
            for call in delta.get("tool_calls") or ():
                slot = joined.tool_calls.setdefault(call["index"], {"arguments": ""})
                if "id" in call:
                    slot["id"] = call["id"]
                    slot["name"] = call["function"]["name"]
                slot["arguments"] += call["function"]["arguments"]
            if choice["finish_reason"] is not None:
                joined.finish_reason = choice["finish_reason"]
    return choices, usage
