"""Token log probabilities in each wire format's shape, the same numbers on every run.

The emulator's "tokens" are the answer's words, each with its trailing space; alternative ``r``
of a token is the token with ``r`` appended, and its log probability falls with ``r``.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["gemini_logprobs", "openai_logprobs"]


def _tokens(text: str) -> list[str]:
    return [word for word in re.split(r"(?<=\s)", text) if word]


def _logprob(rank: int) -> float:
    return -0.25 * rank - 0.01


def _alternative(token: str, rank: int) -> str:
    return token if rank == 0 else f"{token}{rank}"


def openai_logprobs(text: str, top: int) -> dict[str, Any]:
    """OpenAI's ``choices[].logprobs`` (openai-python ``ChoiceLogprobs``)."""

    def entry(token: str) -> dict[str, Any]:
        return {"token": token, "logprob": _logprob(0), "bytes": list(token.encode())}

    def alternative(token: str, rank: int) -> dict[str, Any]:
        other = _alternative(token, rank)
        return {"token": other, "logprob": _logprob(rank), "bytes": list(other.encode())}

    content = [
        {**entry(token), "top_logprobs": [alternative(token, rank) for rank in range(top)]}
        for token in _tokens(text)
    ]
    return {"content": content, "refusal": None}


def gemini_logprobs(text: str, top: int) -> dict[str, Any]:
    """Gemini's ``candidates[].logprobsResult`` (https://ai.google.dev/api/generate-content
    #LogprobsResult): ``chosenCandidates`` and, per step, ``topCandidates``."""
    tokens = _tokens(text)
    return {
        "chosenCandidates": [{"token": token, "logProbability": _logprob(0)} for token in tokens],
        "topCandidates": [
            {
                "candidates": [
                    {"token": _alternative(token, rank), "logProbability": _logprob(rank)}
                    for rank in range(top)
                ]
            }
            for token in tokens
        ],
    }
