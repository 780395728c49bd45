"""Where a streamed attempt starts when an earlier one left part of an answer in the job's
stream: pure decisions, apart from the Redis read and the call.

An attempt that fails after some of its text reached the caller leaves that text in the stream
with no reset after it. The next attempt (a retry, or the fallback) looks at what the stream
holds since its last reset and plans one of three starts:

- ``fresh``: nothing is there; it streams as a first attempt does;
- ``prefill``: text only (no tool call, no finish reason, no usage), and the target continues a
  trailing assistant message (``ModelConfig.prefill``, ``routing/prefill.py``; no thinking, one
  choice, no JSON output): the request gets the text as that message, and only the answer's
  continuation reaches the stream, so the caller reads one answer, with nothing repeated. The
  prefill is the text without its trailing whitespace (Anthropic refuses a prefill that ends
  in whitespace); the whitespace the caller already has is then not sent again. The stored
  result is the text plus the continuation, and its usage both calls': the continuation's, as
  the provider reported it, and the broken call's, estimated (the prompt and the characters it
  streamed: a broken stream reports no usage);
- ``restart``: anything else (tool calls, a whole answer that failed the job's JSON schema, a
  target without prefill): a reset naming the error that broke the stream goes before the
  attempt's first chunk, and its answer follows whole.

A prefill the target refuses (a 4xx) ends the job with the error that broke the stream
(``adapters.errors.PrefillRefused``), never with the refusal.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from adapters.streams import Chunk
from broker.job_streams import StreamEntry
from broker.jobs import AssistantMessage, Attempt, CompletionRequest, Usage
from routing.catalog import ModelConfig
from routing.estimate import CHARS_PER_TOKEN, estimate_prompt_tokens
from routing.prefill import PREFILL_WIRE_FORMATS

__all__ = [
    "Continuation",
    "Delivered",
    "Resume",
    "delivered_since_reset",
    "partial_usage",
    "plan_resume",
    "prefill_request",
    "summed",
]

# An attempt's stream broke and no attempt of the job recorded why (its worker was lost).
_SUPERSEDED = (
    "AttemptSuperseded",
    "an earlier attempt's answer is not the job's result (its worker was lost, or the answer"
    " failed the job's JSON schema); the next answer follows whole",
)


@dataclass(frozen=True, slots=True)
class Delivered:
    """What the job's stream holds since its last reset: choice 0's text, how many chunks,
    and whether anything but text came (a tool call, a finish reason, the usage, another
    choice), which no prefill can continue."""

    text: str = ""
    chunks: int = 0
    more_than_text: bool = False


def delivered_since_reset(entries: Sequence[StreamEntry]) -> Delivered:
    texts: list[str] = []
    chunks, more = 0, False
    for entry in entries:
        if entry.kind == "reset":
            texts, chunks, more = [], 0, False
            continue
        chunks += 1
        choices = entry.data.get("choices") or []
        more = more or "usage" in entry.data and not choices
        for choice in choices:
            delta = choice.get("delta") or {}
            if choice.get("index", 0) != 0 or delta.get("tool_calls"):
                more = True
            more = more or bool(choice.get("finish_reason"))
            if isinstance(delta.get("content"), str):
                texts.append(delta["content"])
    return Delivered("".join(texts), chunks, more)


@dataclass(frozen=True, slots=True)
class Resume:
    """How the attempt starts; ``error_class`` and ``message`` name what broke the stream."""

    kind: Literal["fresh", "prefill", "restart"]
    text: str = ""
    error_class: str = ""
    message: str = ""


def can_prefill(request: CompletionRequest, model: ModelConfig, wire_format: str) -> bool:
    """Whether the target continues a trailing assistant message for this request (Anthropic
    takes no prefill with extended thinking; one choice; free text, not JSON output)."""
    return (
        model.prefill
        and wire_format in PREFILL_WIRE_FORMATS
        and request.n == 1
        and request.reasoning_effort in (None, "none")
        and (request.response_format is None or request.response_format.type == "text")
    )


def plan_resume(delivered: Delivered, previous: Sequence[Attempt], *, prefill: bool) -> Resume:
    """The start of an attempt after ``previous`` left ``delivered`` in the stream."""
    if delivered.chunks == 0:
        return Resume("fresh")
    last = previous[-1] if previous else None
    error_class, message = _SUPERSEDED
    if last is not None and last.error_class and last.error_class != "AnswerInvalid":
        error_class, message = last.error_class, last.error_message or ""
    if prefill and delivered.text.strip() and not delivered.more_than_text:
        return Resume("prefill", delivered.text, error_class, message)
    return Resume("restart", "", error_class, message)


def prefill_request(request: CompletionRequest, text: str) -> CompletionRequest:
    """``request`` with ``text`` (less its trailing whitespace) as a final assistant turn."""
    turn = AssistantMessage(role="assistant", content=text.rstrip())
    return request.model_copy(update={"messages": [*request.messages, turn]})


def partial_usage(request: CompletionRequest, model: ModelConfig | None, text: str) -> Usage:
    """An estimate of what a call that streamed ``text`` and then broke (or was stopped) was
    billed: its prompt, and ``text`` at CHARS_PER_TOKEN characters a token."""
    prompt = estimate_prompt_tokens(request, model)
    completion = math.ceil(len(text) / CHARS_PER_TOKEN)
    return Usage(
        prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion
    )


def summed(first: Usage, second: Usage) -> Usage:
    return Usage(
        prompt_tokens=first.prompt_tokens + second.prompt_tokens,
        completion_tokens=first.completion_tokens + second.completion_tokens,
        total_tokens=first.total_tokens + second.total_tokens,
        cached_tokens=first.cached_tokens + second.cached_tokens,
        reasoning_tokens=first.reasoning_tokens + second.reasoning_tokens,
    )


@dataclass
class Continuation:
    """Turns a prefilled call's chunks into the continuation of the text the caller has:
    no second role chunk, none of the whitespace the prefill left out, and the usage chunk
    counting the broken call too (``earlier``)."""

    text: str
    earlier: Usage
    _skip_space: bool = field(init=False)

    def __post_init__(self) -> None:
        self._skip_space = self.text != self.text.rstrip()

    def chunk(self, chunk: Chunk) -> Chunk | None:
        if "usage" in chunk and not chunk.get("choices"):
            return {**chunk, "usage": _usage_plus(chunk["usage"], self.earlier)}
        choices = [c for c in (self._choice(raw) for raw in chunk.get("choices") or ()) if c]
        return {**chunk, "choices": choices} if choices else None

    def _choice(self, raw: dict[str, Any]) -> dict[str, Any] | None:
        delta = {key: value for key, value in (raw.get("delta") or {}).items() if key != "role"}
        content = delta.get("content")
        if isinstance(content, str) and self._skip_space:
            content = content.lstrip()
            self._skip_space = not content
            delta["content"] = content
        if not (delta.get("content") or delta.get("tool_calls") or raw.get("finish_reason")):
            return None
        return {**raw, "delta": delta}

    def first_chunk(self, like: Chunk) -> Chunk:
        """A chunk holding the text the caller has, for the stored result (never streamed)."""
        choice = {"index": 0, "delta": {"content": self.text}, "finish_reason": None}
        return {**like, "choices": [choice]}


def _usage_plus(payload: dict[str, Any], earlier: Usage) -> dict[str, Any]:
    return {
        **payload,
        "prompt_tokens": int(payload.get("prompt_tokens") or 0) + earlier.prompt_tokens,
        "completion_tokens": int(payload.get("completion_tokens") or 0) + earlier.completion_tokens,
        "total_tokens": int(payload.get("total_tokens") or 0) + earlier.total_tokens,
    }
