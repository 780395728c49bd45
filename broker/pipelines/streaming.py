"""A streamed pipeline's answer: the output step's rounds read one after the other.

A pipeline submitted with ``envelope.stream`` has its output step's jobs submitted as streamed
jobs (the driver sets the flag on that step only), so nothing new is written to Redis: a reader
follows the job stream of the output step's round, and when that round's job ends it waits for
the pipeline to either end or record a later round of the same step (a validator sent it back,
its schema check failed, an escalation). A later round is told as a ``reset``: what came before
is not the answer, the next round's answer follows from its first chunk.

The cursor a reader resumes from names the round and the entry inside its job stream
(``<round>:<entry id>``), so ``Last-Event-ID`` works across rounds.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from broker.job_streams import StreamEnd, StreamEntry, read_job_stream
from broker.pipelines.records import PipelineResult, step_job_id
from broker.pipelines.state import PipelineRecord, PipelineStore
from broker.store import JobStore

__all__ = [
    "Cursor",
    "PipelineStreamFailed",
    "parse_cursor",
    "pipeline_chunks",
    "round_reset",
    "step_after",
]

ROUND_REJECTED = "PipelineRoundRejected"
# How often a reader looks at the pipeline while no job stream of it is to be read.
_LOOK_S = 0.2


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where a reader is: the output step's round (None before it started) and the entry
    after which its job stream is read."""

    round: int | None = None
    after: str = "0-0"
    # the round's job ended: what comes next is a later round or the pipeline's end
    ended: bool = False

    def event_id(self, entry_id: str | None = None) -> str:
        return f"{self.round}:{entry_id or self.after}"


class PipelineStreamFailed(RuntimeError):
    """The pipeline ended without an answer, or the reader's wait ran out (result None)."""

    def __init__(self, pipeline_id: str, result: PipelineResult | None) -> None:
        self.result = result
        reason = (result.error or result.status.value) if result else "timed out"
        super().__init__(f"pipeline {pipeline_id}: {reason}")


def parse_cursor(text: str | None) -> Cursor:
    """A cursor from a ``Last-Event-ID`` (``<round>:<entry id>``); ValueError names the form."""
    if not text:
        return Cursor()
    round_text, sep, after = text.partition(":")
    if not sep or not round_text.isdigit() or not _entry_id(after):
        raise ValueError(f"Last-Event-ID: {text!r} is not <round>:<entry id>, as sent")
    return Cursor(int(round_text), after)


def _entry_id(text: str) -> bool:
    millis, sep, seq = text.partition("-")
    return bool(sep) and millis.isdigit() and seq.isdigit()


def step_after(record: PipelineRecord, cursor: Cursor) -> Cursor | None:
    """Where to read next in the output step: its first round when the reader has none yet,
    the next recorded round once the reader's round is over; None when there is none (yet)."""
    rounds = [run.round for run in record.runs.get(record.spec.output_step, [])]
    later = [r for r in rounds if cursor.round is None or r > cursor.round]
    return Cursor(min(later)) if later else None


def round_reset(record: PipelineRecord, round_: int) -> dict[str, Any]:
    """What a reset before ``round_`` of the output step tells: why the round before it was
    sent back (the validator's feedback, a schema error) and where the next one runs."""
    step = record.spec.output_step
    run = next((r for r in record.runs.get(step, []) if r.round == round_), None)
    why = run.feedback if run is not None and run.feedback else "it was not accepted"
    tier = f" on tier {run.tier}" if run is not None and run.tier else ""
    return {
        "error_class": ROUND_REJECTED,
        "message": f"step {step!r} runs again as round {round_}{tier}: {why}",
        "pipeline_id": record.pipeline_id,
        "round": round_,
    }


def pipeline_chunks(
    store: PipelineStore, jobs: JobStore, pipeline_id: str, *, after: str, timeout: float
) -> Iterator[dict[str, Any]]:
    """What ``CascadeClient.stream_pipeline`` yields: the output step's chunks, each with its
    ``cascade_event_id`` (``<round>:<entry id>``, to resume after), a ``cascade.reset`` where a
    round (or an attempt inside one) was superseded; raises PipelineStreamFailed when the
    pipeline ended without an answer or ``timeout`` passed."""
    cursor, deadline = parse_cursor(after), time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        record = store.load(pipeline_id)
        if record is None:
            raise PipelineStreamFailed(pipeline_id, None)
        if cursor.round is not None and not cursor.ended:
            job_id = step_job_id(pipeline_id, record.spec.output_step, cursor.round)
            items = read_job_stream(jobs.client, jobs, job_id, after=cursor.after, timeout=left)
            for item in items:
                if isinstance(item, StreamEnd):
                    break
                cursor = Cursor(cursor.round, item.id)
                yield _client_item(item, cursor)
            cursor = Cursor(cursor.round, cursor.after, ended=True)
            continue
        following = step_after(record, cursor)
        if following is not None:
            if cursor.round is not None:
                reset = round_reset(record, following.round or 0)
                yield {"object": "cascade.reset", "cascade_event_id": following.event_id(), **reset}
            cursor = following
        elif record.result is not None:
            if record.result.status.value == "succeeded":
                return
            raise PipelineStreamFailed(pipeline_id, record.result)
        else:
            time.sleep(min(_LOOK_S, left))
    raise PipelineStreamFailed(pipeline_id, None)


def _client_item(entry: StreamEntry, cursor: Cursor) -> dict[str, Any]:
    if entry.kind == "reset":
        return {"object": "cascade.reset", "cascade_event_id": cursor.event_id(), **entry.data}
    return {**entry.data, "cascade_event_id": cursor.event_id()}
