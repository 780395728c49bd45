"""The emulator's provider batches, wire-neutral: when each line runs, what it answers, and how
a batch ends (completed, expired with part of its lines never run, or cancelled).

A batch of n lines created at t0 with ``completion_delay_s`` d runs line i (from 0) at
``t0 + d * (i + 1) / n``, so a batch read half-way shows half its lines done and a cancel
keeps what ran. A line runs as a synchronous call to the same wire format would: it is
counted at arrival (under its custom_id as the job id), the fault rules (``/_emulator/faults``)
pick the lines that fail, and a line that succeeds answers exactly what the synchronous call
answers. With ``expire`` set, the batch ends at t0 + d with its last ``unfinished_fraction``
of lines never run.

Lines run lazily, when the batch is read: the state is a function of the clock, so a test
needs no background task and no sleep longer than the delay it set.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from adapters.emulator.content import make_reply, short_hash
from adapters.emulator.state import EmulatorState
from adapters.emulator.wire import Answer, CallMeta, WireFormat

__all__ = [
    "BatchBook",
    "BatchEnding",
    "BatchSettings",
    "EmulatedBatch",
    "LineResult",
    "LineSpec",
    "StoredFile",
    "new_id",
    "run_due_lines",
]

LineEnd = Literal["answered", "expired", "cancelled"]
BatchEnding = Literal["completed", "expired", "cancelled"]


class BatchSettings(BaseModel):
    """The body of ``POST /_emulator/batches``: how the batches created from now on behave."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    completion_delay_s: float = Field(default=0.0, ge=0)
    expire: bool = False
    unfinished_fraction: float = Field(default=0.3, ge=0, le=1)
    # OpenAI batches only: where their end is announced, and the secret it is signed with
    # (batches_webhooks.py); both or neither.
    webhook_url: str | None = Field(default=None, pattern=r"^https?://")
    webhook_secret: str | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _webhook_whole(self) -> BatchSettings:
        if (self.webhook_url is None) != (self.webhook_secret is None):
            missing = "webhook_secret" if self.webhook_secret is None else "webhook_url"
            raise ValueError(f"{missing}: give webhook_url and webhook_secret together")
        return self


@dataclass(frozen=True, slots=True)
class LineSpec:
    """One line as the batch's input gave it: its body is the synchronous request body."""

    custom_id: str
    body: bytes
    path_params: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class LineResult:
    custom_id: str
    end: LineEnd
    answer: Answer | None = None  # for an answered line: status and body, as a call's


@dataclass(slots=True)
class EmulatedBatch:
    """One provider batch; ``results`` grows as lines run, in line order."""

    id: str
    provider: str
    wire: WireFormat
    lines: list[LineSpec]
    created: float
    settings: BatchSettings
    results: list[LineResult] = field(default_factory=list)
    cancel_requested_at: float | None = None
    ended_at: float | None = None
    ending: BatchEnding | None = None
    failure: str | None = None  # refused as a whole (set at create; nothing runs)
    # what a wire format keeps about the batch (OpenAI: input file, metadata, result files)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def end_time(self) -> float:
        return self.created + self.settings.completion_delay_s

    def answered(self, low: int, high: int) -> int:
        """Answered lines whose status is within [low, high)."""
        return sum(
            1
            for result in self.results
            if result.answer is not None and low <= result.answer.status < high
        )


def new_id(prefix: str, *parts: str) -> str:
    return f"{prefix}{short_hash(*parts, length=24)}"


def _due(batch: EmulatedBatch, index: int) -> float:
    delay = batch.settings.completion_delay_s
    return batch.created + delay * (index + 1) / len(batch.lines)


def _runnable(batch: EmulatedBatch) -> int:
    """How many lines run at all: all but the unfinished share of an expiring batch."""
    if not batch.settings.expire:
        return len(batch.lines)
    # 1e-9 absorbs float error (10 * 0.3), as faults.selected does
    unfinished = math.ceil(len(batch.lines) * batch.settings.unfinished_fraction - 1e-9)
    return len(batch.lines) - unfinished


def run_due_lines(batch: EmulatedBatch, state: EmulatorState, now: float) -> None:
    """Run every line whose time has come (none after a cancel), and end the batch when it
    is due: at its end time, or at once after a cancel."""
    if batch.ended_at is not None or batch.failure is not None:
        return
    stop = now if batch.cancel_requested_at is None else batch.cancel_requested_at
    runnable = _runnable(batch)
    while len(batch.results) < runnable and _due(batch, len(batch.results)) <= stop:
        spec = batch.lines[len(batch.results)]
        batch.results.append(LineResult(spec.custom_id, "answered", _run(batch, spec, state)))
    if batch.cancel_requested_at is not None:
        _close(batch, "cancelled", now)
    elif now >= batch.end_time:
        _close(batch, "expired" if batch.settings.expire else "completed", now)


def _close(batch: EmulatedBatch, ending: BatchEnding, now: float) -> None:
    never_run: LineEnd = "cancelled" if ending == "cancelled" else "expired"
    for spec in batch.lines[len(batch.results):]:
        batch.results.append(LineResult(spec.custom_id, never_run))
    batch.ended_at = now
    batch.ending = ending


def _run(batch: EmulatedBatch, spec: LineSpec, state: EmulatorState) -> Answer:
    wire = batch.wire
    parsed = wire.read(batch.provider, spec.body, spec.path_params)
    number = state.record_received(batch.provider, parsed.model, spec.custom_id)
    if parsed.error is not None or parsed.prompt is None:
        answer = parsed.error or Answer(400, {"error": {"message": "unreadable line"}})
    else:
        rule = state.next_fault(batch.provider, parsed.prompt.model)
        if rule is None:
            meta = CallMeta(call_number=number, latency_s=0.0, created=state.config.created)
            answer = wire.success(parsed.prompt, make_reply(parsed.prompt), meta)
        elif rule.kind == "disconnect":
            # a line has no connection to drop: the provider reports a server error
            answer = wire.fault(rule.model_copy(update={"kind": "status", "status": 500}),
                                parsed.prompt.model)
        else:
            answer = wire.fault(rule, parsed.prompt.model)
    state.record_outcome(spec.custom_id, str(answer.status))
    return answer


@dataclass(frozen=True, slots=True)
class StoredFile:
    """A file uploaded to the emulator (OpenAI's Files API), or one a batch wrote."""

    id: str
    filename: str
    purpose: str
    content: bytes
    created: int


class BatchBook:
    """The batches and files of one emulator app, and the settings new batches take."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state
        self.reset()

    def reset(self) -> None:
        self.settings = BatchSettings()
        self.batches: dict[str, EmulatedBatch] = {}
        self.files: dict[str, StoredFile] = {}
        # the batch webhooks sent (batches_webhooks.py), each with its last outcome
        self.webhooks_sent: list[dict[str, Any]] = []
        self._made = 0

    def new_id(self, prefix: str) -> str:
        self._made += 1
        return new_id(prefix, str(self._made), str(self.state.clock()))

    def create(
        self,
        prefix: str,
        provider: str,
        wire: WireFormat,
        lines: list[LineSpec],
        failure: str | None = None,
    ) -> EmulatedBatch:
        batch = EmulatedBatch(
            id=self.new_id(prefix),
            provider=provider,
            wire=wire,
            lines=lines,
            created=self.state.clock(),
            settings=self.settings,
            failure=failure,
        )
        self.batches[batch.id] = batch
        return batch

    def get(self, batch_id: str, provider: str) -> EmulatedBatch | None:
        """The batch brought up to now, or None when the provider has no such batch."""
        batch = self.batches.get(batch_id)
        if batch is None or batch.provider != provider:
            return None
        run_due_lines(batch, self.state, self.state.clock())
        return batch

    def cancel(self, batch_id: str, provider: str) -> EmulatedBatch | None:
        """Ask the batch to stop: the lines due before now still count, the others never run."""
        batch = self.get(batch_id, provider)
        if batch is not None and batch.ended_at is None and batch.cancel_requested_at is None:
            batch.cancel_requested_at = self.state.clock()
        return batch

    def add_file(self, filename: str, purpose: str, content: bytes) -> StoredFile:
        stored = StoredFile(
            self.new_id("file-"), filename, purpose, content, int(self.state.clock())
        )
        self.files[stored.id] = stored
        return stored
