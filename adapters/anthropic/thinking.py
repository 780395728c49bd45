"""``reasoning_effort`` as Anthropic's thinking controls, per model generation.

Models with adaptive thinking (Opus 4.6, Sonnet 4.6 and 5) take ``thinking: {"type":
"adaptive"}`` and ``output_config.effort`` (low, medium, high, max;
https://platform.claude.com/docs/en/build-with-claude/effort). Older ones take a fixed
``budget_tokens`` of at least 1,024 that must stay below ``max_tokens``
(https://docs.claude.com/en/docs/build-with-claude/extended-thinking). ``none`` sends no
thinking at all, which is each model's default.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from broker.chat_request import ReasoningEffort

__all__ = [
    "ADAPTIVE_MODEL_PREFIXES",
    "EFFORT_BUDGETS",
    "EFFORT_LEVELS",
    "MIN_BUDGET_TOKENS",
    "thinking_fields",
]

ADAPTIVE_MODEL_PREFIXES: tuple[str, ...] = (
    "claude-opus-4-6",
    "claude-opus-4-7",
    "claude-sonnet-4-6",
    "claude-sonnet-5",
)
MIN_BUDGET_TOKENS = 1024

# OpenAI's effort names -> Anthropic's effort levels (it has no minimal; xhigh is its max)
EFFORT_LEVELS: Mapping[str, str] = MappingProxyType(
    {
        "minimal": "low",
        "low": "low",
        "medium": "medium",
        "high": "high",
        "xhigh": "max",
        "max": "max",
    }
)
# OpenAI's effort names -> a thinking budget for models without adaptive thinking
EFFORT_BUDGETS: Mapping[str, int] = MappingProxyType(
    {"minimal": 1024, "low": 2048, "medium": 8192, "high": 16384, "xhigh": 32000, "max": 32000}
)


def thinking_fields(
    effort: ReasoningEffort | None, model_id: str, max_tokens: int, *, limit_given: bool
) -> dict[str, Any]:
    """The body fields for ``effort`` on ``model_id``: ``thinking``, and ``output_config``
    or a raised ``max_tokens`` (only when the caller set no limit of their own)."""
    if effort is None or effort == "none":
        return {}
    if model_id.startswith(ADAPTIVE_MODEL_PREFIXES):
        return {
            "thinking": {"type": "adaptive"},
            "output_config": {"effort": EFFORT_LEVELS[effort]},
        }
    budget = EFFORT_BUDGETS[effort]
    if not limit_given:
        # the default answer length comes on top of the thinking, as OpenAI's default does
        return {
            "thinking": {"type": "enabled", "budget_tokens": budget},
            "max_tokens": max_tokens + budget,
        }
    # The caller's limit covers thinking and answer together (OpenAI counts reasoning tokens in
    # max_completion_tokens): the budget must fit below it, or the model answers without it.
    budget = min(budget, max_tokens - 1)
    if budget < MIN_BUDGET_TOKENS:
        return {}
    return {"thinking": {"type": "enabled", "budget_tokens": budget}}
