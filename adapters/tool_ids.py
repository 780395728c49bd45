"""Tool-call ids one vendor rejects from another, rewritten so a conversation can be rerouted.

A tool conversation carries the ids the first provider minted (OpenAI ``call_...``, Anthropic
``toolu_...``) in assistant ``tool_calls[].id`` and in tool messages' ``tool_call_id``. Some
vendors accept only their own shape: Mistral answers 400 "Tool call id was call_0fypS1hVX but
must be a-z, A-Z, 0-9, with a length of 9." (langchain-ai/langchain#24668). An id the target
rejects is replaced by a digest of itself, so the rewrite is deterministic (a retry or a second
hop sends the same ids) and consistent (a call and its result still pair up) without any state.
Ids the target already accepts are kept as they are.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "ALPHANUMERIC",
    "ANTHROPIC_TOOL_IDS",
    "MISTRAL_TOOL_IDS",
    "ToolIdFormat",
    "conform_tool_call_ids",
]

ALPHANUMERIC = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


@dataclass(frozen=True, slots=True)
class ToolIdFormat:
    """The tool-call ids a vendor accepts (``pattern``, matched whole) and how to mint one.

    A minted id is ``prefix`` plus ``length`` characters of ``alphabet`` taken from the SHA-256
    of the foreign id: two different foreign ids collide with odds of ``len(alphabet)**-length``
    (about 1 in 10**16 for Mistral's nine alphanumerics).
    """

    pattern: str
    length: int
    alphabet: str = ALPHANUMERIC
    prefix: str = ""

    def accepts(self, tool_id: str) -> bool:
        return re.fullmatch(self.pattern, tool_id) is not None

    def conform(self, tool_id: str) -> str:
        """``tool_id`` itself when accepted, else the id minted from it."""
        if self.accepts(tool_id):
            return tool_id
        number = int.from_bytes(hashlib.sha256(tool_id.encode("utf-8")).digest(), "big")
        base = len(self.alphabet)
        digits = []
        for _ in range(self.length):
            number, digit = divmod(number, base)
            digits.append(self.alphabet[digit])
        return self.prefix + "".join(digits)


# https://docs.mistral.ai/capabilities/function_calling/ ids are 9 characters [a-zA-Z0-9];
# the 400 quoted in the module docstring is the enforcement.
MISTRAL_TOOL_IDS = ToolIdFormat(pattern=r"[A-Za-z0-9]{9}", length=9)

# Anthropic validates tool_use ids against ^[a-zA-Z0-9_-]+$ (its 400 quotes the pattern); a
# minted id keeps Anthropic's own look.
ANTHROPIC_TOOL_IDS = ToolIdFormat(pattern=r"[A-Za-z0-9_-]+", length=24, prefix="toolu_")


def conform_tool_call_ids(
    messages: Sequence[Mapping[str, Any]], id_format: ToolIdFormat
) -> list[dict[str, Any]]:
    """OpenAI-shaped wire messages with every tool-call id made acceptable to ``id_format``.

    Rewrites assistant ``tool_calls[].id`` and tool ``tool_call_id`` alike; other fields and
    the input are left untouched (new dicts are returned).
    """
    return [_conform_message(message, id_format) for message in messages]


def _conform_message(message: Mapping[str, Any], id_format: ToolIdFormat) -> dict[str, Any]:
    result = dict(message)
    tool_call_id = result.get("tool_call_id")
    if isinstance(tool_call_id, str):
        result["tool_call_id"] = id_format.conform(tool_call_id)
    tool_calls = result.get("tool_calls")
    if isinstance(tool_calls, list):
        result["tool_calls"] = [_conform_call(call, id_format) for call in tool_calls]
    return result


def _conform_call(call: Any, id_format: ToolIdFormat) -> Any:
    if not isinstance(call, Mapping) or not isinstance(call.get("id"), str):
        return call
    return {**call, "id": id_format.conform(call["id"])}
