"""Values read out of a provider's decoded JSON answer without trusting its shape.

Answers are paid for before they are read, so a missing, null or oddly typed field in the
bookkeeping parts (usage, nested details) reads as "nothing" rather than failing the answer.
"""

from __future__ import annotations

from typing import Any

__all__ = ["as_object", "count", "dig"]


def dig(node: Any, path: tuple[str, ...]) -> Any:
    """``node[path[0]][path[1]]...``, or None as soon as a step is not an object."""
    for key in path:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node


def count(value: Any) -> int:
    """A count of tokens or seconds (some providers send floats); null, missing or nonsense
    counts as 0."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0
    return max(0, int(value))


def as_object(value: Any) -> dict[str, Any]:
    """``value`` when it is a JSON object, else an empty one."""
    return value if isinstance(value, dict) else {}
