"""Finish reasons: OpenAI's values, and the one way every adapter maps a native value onto them.

Each adapter keeps one table, ``{native value: OpenAI value}``, with a link to the provider's docs,
and looks values up through ``finish_reason_from`` so that a value the table does not know yet
(providers add new ones without notice) never crashes the parsing of an answer already paid for.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, get_args

__all__ = ["FINISH_REASONS", "FinishReason", "FinishReasonTable", "finish_reason_from"]

# The values broker.jobs.Choice accepts, as OpenAI defines them:
# https://platform.openai.com/docs/api-reference/chat/object (choices[].finish_reason)
FinishReason = Literal["stop", "length", "tool_calls", "content_filter", "function_call"]
FinishReasonTable = Mapping[str, FinishReason]

FINISH_REASONS: frozenset[str] = frozenset(get_args(FinishReason))


def finish_reason_from(
    table: FinishReasonTable, native: object, *, unknown: FinishReason = "stop"
) -> FinishReason:
    """``table[native]``, or ``unknown`` for a value the table lacks (None included)."""
    if isinstance(native, str) and native in table:
        return table[native]
    return unknown
