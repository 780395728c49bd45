"""The chat.completion a finished stream adds up to: what the job stores as its result.

The chunks are those a parser gave (``adapters.streams.base``), so they are already OpenAI's
and well formed; the usage is the parser's (``StreamParser.usage``), since the chunks carry it
in OpenAI's shape only.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from adapters.base import ParsedResponse
from adapters.streams.base import Chunk
from broker.jobs import Choice, ResponseMessage, ToolCall, Usage

__all__ = ["assemble"]


@dataclass
class _Choice:
    texts: list[str] = field(default_factory=list)
    calls: dict[int, dict[str, Any]] = field(default_factory=dict)
    finish_reason: str | None = None

    def add(self, delta: dict[str, Any]) -> None:
        if isinstance(delta.get("content"), str):
            self.texts.append(delta["content"])
        for call in delta.get("tool_calls") or ():
            slot = self.calls.setdefault(call["index"], {"arguments": []})
            if "id" in call:
                slot["id"], slot["name"] = call["id"], call["function"].get("name")
            slot["arguments"].append(call["function"].get("arguments") or "")

    def choice(self, index: int) -> Choice:
        calls = [
            ToolCall.model_validate(
                {
                    "id": slot["id"],
                    "function": {"name": slot["name"], "arguments": "".join(slot["arguments"])},
                }
            )
            for _, slot in sorted(self.calls.items())
        ]
        text = "".join(self.texts)
        return Choice.model_validate(
            {
                "index": index,
                "message": ResponseMessage(content=text or None, tool_calls=calls or None),
                "finish_reason": self.finish_reason or ("tool_calls" if calls else "stop"),
            }
        )


def assemble(chunks: Iterable[Chunk], usage: Usage | None) -> ParsedResponse:
    """The answer ``chunks`` spell out, with ``usage`` (zeros when the stream gave none)."""
    choices: dict[int, _Choice] = {}
    first: Chunk | None = None
    for chunk in chunks:
        first = first or chunk
        for raw in chunk["choices"]:
            built = choices.setdefault(raw["index"], _Choice())
            built.add(raw["delta"])
            built.finish_reason = raw["finish_reason"] or built.finish_reason
    if first is None:
        raise ValueError("no chunks to assemble")
    return ParsedResponse(
        id=str(first["id"]),
        model=str(first["model"]),
        created=int(first["created"]),
        choices=[built.choice(index) for index, built in sorted(choices.items())],
        usage=usage or Usage(),
    )
