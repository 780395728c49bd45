"""Where a cascade job's overhead goes: its end to end time cut at the timestamps the job leaves.

    submit     the bench's clock before ``submit_many`` -> the record's ``submitted_at``
               (validation, planning, building the record; the jobs of one submit share a start)
    delivery   ``submitted_at`` -> the ``running`` event's ``at`` (the pipeline's write, the
               queue, kombu's BRPOP, Celery handing the message to a thread)
    admission  ``running`` -> the answering attempt's ``started_at`` (the begin script, the
               record parsed, tokens estimated, the admission script)
    call       the attempt's ``duration_s``: the provider's time as the worker measured it
    finish     the call's end -> the result's ``finished_at`` (the result built)
    heard      ``finished_at`` -> the bench reading the job's end on the events channel (the
               finish round trip and the bench's own event loop; not part of the overhead)

The first five add up to the job's end to end time; all but ``call`` add up to its overhead.
Each stage is summarised over the jobs that succeeded and have every timestamp. ``running`` and
``call`` are the answering delivery's, so for a job that was retried or rerouted, ``delivery``
holds its earlier attempts and their waits (the bench's own workload has none).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from broker.bench.stats import distribution
from broker.jobs import CompletionResult

__all__ = ["STAGES", "JobMarks", "event_time", "stage_summary"]

STAGES = ("submit", "delivery", "admission", "call", "finish", "heard")


@dataclass(frozen=True, slots=True)
class JobMarks:
    """What the bench saw of one job besides its result (Unix seconds)."""

    submitted: float  # the bench's clock just before the job's submit_many
    recorded: float | None  # the record's submitted_at
    running: float | None  # the last 'running' event's own timestamp
    heard: float | None  # when the bench read the job's end


def _stages(marks: JobMarks, result: CompletionResult) -> dict[str, float] | None:
    if marks.recorded is None or marks.running is None:
        return None
    answer = result.attempts[-1]
    started = answer.started_at.timestamp()
    ended = started + answer.duration_s
    finished = result.finished_at.timestamp()
    found = {
        "submit": marks.recorded - marks.submitted,
        "delivery": marks.running - marks.recorded,
        "admission": started - marks.running,
        "call": answer.duration_s,
        "finish": finished - ended,
    }
    if marks.heard is not None:
        found["heard"] = marks.heard - finished
    return found


def stage_summary(
    marks: Mapping[str, JobMarks], results: Sequence[CompletionResult]
) -> dict[str, Any]:
    """Per stage, its distribution in milliseconds (``{"submit": {"p50": ...}, ...}``), and
    ``jobs``, how many jobs it was taken over."""
    samples: dict[str, list[float]] = {name: [] for name in STAGES}
    counted = 0
    for result in results:
        seen = marks.get(result.job_id)
        found = None if seen is None else _stages(seen, result)
        if found is None:
            continue
        counted += 1
        for name, seconds in found.items():
            samples[name].append(seconds)
    summary: dict[str, Any] = {name: distribution(values) for name, values in samples.items()}
    summary["jobs"] = counted
    return summary


def event_time(at: str) -> float:
    """An event's ``at`` (ISO 8601, as the job store writes it) as Unix seconds."""
    return datetime.fromisoformat(at).timestamp()
