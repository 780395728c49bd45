"""Fault rules for the provider emulator and the pure functions that decide which call fails.

A rule targets a provider and a model (``"*"`` matches any) and says how matching calls fail.
Each rule counts the calls it matches separately for every (provider, model): the k-th such call
(k from 1) is a candidate when ``k <= first_n`` (or no ``first_n``), and a candidate fails when
``selected(k, fraction)``. Selection uses error diffusion: call k fails exactly when
``floor(k * fraction)`` grew at k, so any N consecutive calls fail ``N * fraction`` times give or
take one, the same calls on every run. The first rule (in list order) that fires decides the call.

The stream kinds (``STREAM_KINDS``) break a streamed answer after its 200 and match only
streamed calls (``stream: true``, Gemini's ``:streamGenerateContent``); a plain call passes
them by without being counted. See ``FaultRule`` for what each does.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "STREAM_KINDS",
    "FaultKind",
    "FaultRule",
    "FaultRules",
    "choose_fault",
    "rule_matches",
    "selected",
]

FaultKind = Literal[
    "status",
    "rate_limit",
    "timeout",
    "disconnect",
    "reset",
    "slow_first_token",
    "stall",
    "cut",
    "malformed_chunk",
    "no_terminal",
]

STREAM_KINDS: frozenset[str] = frozenset(
    {"slow_first_token", "stall", "cut", "malformed_chunk", "no_terminal"}
)

# the HTTP status each kind answers with when the rule does not name one
_DEFAULT_STATUS: dict[str, int] = {
    "status": 503,
    "rate_limit": 429,
    "timeout": 504,
    "disconnect": 200,
    "reset": 200,
    **dict.fromkeys(STREAM_KINDS, 200),
}


class FaultRule(BaseModel):
    """How the calls of one (provider, model) pattern fail.

    kind ``status`` answers ``status`` (default 503) with the wire format's error body for
    ``error_code``; ``rate_limit`` answers 429 with a ``retry-after`` header (``retry_after``
    seconds, default 1; none for ``error_code: insufficient_quota`` unless given);
    ``timeout`` holds the connection ``hang_s`` seconds (default: the emulator's) then answers
    504; ``disconnect`` sends the headers of an answer and closes the connection mid-body;
    ``reset`` reads the request, waits ``hang_s`` seconds (default 0), then resets the
    connection (TCP RST) before any byte of an answer: the client gets no status line at all
    (httpx: ``ReadError`` "connection reset by peer"). Plain and streamed calls alike.

    Stream kinds (streamed calls only; the answer starts 200 and then breaks):
    ``slow_first_token`` waits ``hang_s`` (default: the emulator's) before the first event;
    ``stall`` sends ``after_chunks`` events (default: half of them), holds the connection open
    ``hang_s`` seconds, then sends the rest; ``cut`` sends ``after_chunks`` events and closes
    the connection without ending the body; ``malformed_chunk`` sends an event whose data is
    cut-off JSON after ``after_chunks`` events, then the rest; ``no_terminal`` sends everything
    but the format's terminal event (``[DONE]``, ``message_stop``, Cohere's ``message-end``,
    Gemini's last chunk with its finish reason), holds the connection ``hang_s`` seconds
    (default 0), then ends the body.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    provider: str = Field(default="*", min_length=1)
    model: str = Field(default="*", min_length=1)
    kind: FaultKind = "status"
    status: int | None = Field(default=None, ge=400, le=599)
    retry_after: float | None = Field(default=None, ge=0)
    error_code: str | None = None
    message: str | None = None
    fraction: float = Field(default=1.0, ge=0.0, le=1.0)
    first_n: int | None = Field(default=None, ge=1)
    hang_s: float | None = Field(default=None, ge=0)
    after_chunks: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _status_fits_kind(self) -> FaultRule:
        if self.kind == "rate_limit" and self.status not in (None, 429):
            raise ValueError("status: a rate_limit rule answers 429; leave status out")
        if self.kind in ("disconnect", "reset") and self.status is not None:
            raise ValueError(f"status: a {self.kind} rule sends no status; leave it out")
        if self.kind in STREAM_KINDS and self.status is not None:
            raise ValueError(f"status: a {self.kind} rule streams a 200; leave status out")
        if self.after_chunks is not None and self.kind not in ("stall", "cut", "malformed_chunk"):
            raise ValueError("after_chunks: only stall, cut and malformed_chunk rules take it")
        return self

    @property
    def answer_status(self) -> int:
        """The HTTP status this rule answers with."""
        return self.status if self.status is not None else _DEFAULT_STATUS[self.kind]


class FaultRules(BaseModel):
    """The body of ``POST /_emulator/faults`` and the ``rules`` list of a config file."""

    model_config = ConfigDict(extra="forbid")

    rules: list[FaultRule] = Field(default_factory=list)


def rule_matches(rule: FaultRule, provider: str, model: str, *, stream: bool = False) -> bool:
    """Whether ``rule`` targets this provider and model (``"*"`` matches anything); a stream
    kind targets streamed calls only."""
    if rule.kind in STREAM_KINDS and not stream:
        return False
    return rule.provider in ("*", provider) and rule.model in ("*", model)


def selected(call_number: int, fraction: float) -> bool:
    """Whether the ``call_number``-th call (from 1) is among the ``fraction`` that fail.

    Error diffusion: the count of failures among the first k calls is ``floor(k * fraction)``,
    so call k fails when that count steps up at k. ``1e-9`` absorbs float error (0.3 * 10).
    """
    if call_number < 1:
        return False
    if fraction >= 1.0:
        return True
    now = math.floor(call_number * fraction + 1e-9)
    before = math.floor((call_number - 1) * fraction + 1e-9)
    return now > before


def choose_fault(rules: Sequence[FaultRule], call_numbers: Sequence[int]) -> FaultRule | None:
    """The first rule that fires for a call, or None for a normal answer.

    ``call_numbers[i]`` is this call's number among the calls of its (provider, model) that
    rule ``i`` matched (0 when rule ``i`` does not match the call); the caller keeps those
    counters, which keeps this function pure.
    """
    for rule, number in zip(rules, call_numbers, strict=True):
        if number < 1:
            continue
        if rule.first_n is not None and number > rule.first_n:
            continue
        if selected(number, rule.fraction):
            return rule
    return None
