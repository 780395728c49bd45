"""``reasoning_effort`` as Gemini's ``generationConfig.thinkingConfig``, per model generation.

Gemini 3 models take ``thinkingLevel`` (Gemini 3 Pro: ``low`` or ``high``); Gemini 2.5 models
take a ``thinkingBudget`` in tokens, where 0 turns thinking off on Flash and Pro cannot go below
128 (https://ai.google.dev/gemini-api/docs/thinking).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from broker.chat_request import ReasoningEffort

__all__ = ["EFFORT_BUDGETS", "EFFORT_LEVELS", "PRO_MIN_BUDGET", "thinking_config"]

EFFORT_LEVELS: Mapping[str, str] = MappingProxyType(
    {
        "none": "low",
        "minimal": "low",
        "low": "low",
        "medium": "high",
        "high": "high",
        "xhigh": "high",
        "max": "high",
    }
)
EFFORT_BUDGETS: Mapping[str, int] = MappingProxyType(
    {
        "none": 0,
        "minimal": 512,
        "low": 1024,
        "medium": 8192,
        "high": 24576,
        "xhigh": 24576,
        "max": 24576,
    }
)
PRO_MIN_BUDGET = 128


def thinking_config(effort: ReasoningEffort | None, model_id: str) -> dict[str, Any] | None:
    """The thinkingConfig for ``effort`` on ``model_id``; None when no effort was asked for."""
    if effort is None:
        return None
    if model_id.startswith("gemini-3"):
        return {"thinkingLevel": EFFORT_LEVELS[effort]}
    budget = EFFORT_BUDGETS[effort]
    if "-pro" in model_id:
        budget = max(budget, PRO_MIN_BUDGET)
    return {"thinkingBudget": budget}
