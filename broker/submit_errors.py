"""How a submit names what it refused: the errors, and the labels that place a job in a submit.

``submit_many`` names a job by its index (``jobs[3].envelope.id: ...``); a single submit names
the field alone (``envelope.id: ...``), as the HTTP API reports it.
"""

from __future__ import annotations

from dataclasses import dataclass

from broker.jobs import CompletionJob, TargetRef

__all__ = [
    "IdConflict",
    "Planned",
    "SubmitError",
    "dotted",
    "foreign_batch",
    "in_jobs",
    "taken",
    "unlabelled",
]


class SubmitError(ValueError):
    """A job was refused at submit; the message names each bad field. Nothing was enqueued."""


class IdConflict(SubmitError):
    """A job's id is another tenant's, or the batch it names is not its tenant's."""


@dataclass(frozen=True, slots=True)
class Planned:
    """A job checked and planned, ready to enqueue; ``label`` names it in errors."""

    job: CompletionJob
    route: list[TargetRef]
    label: str


def in_jobs(index: int) -> str:
    return f"jobs[{index}]"


def unlabelled(index: int) -> str:
    return ""


def dotted(label: str) -> str:
    return f"{label}." if label else ""


def taken(item: Planned) -> IdConflict:
    return IdConflict(
        f"{dotted(item.label)}envelope.id: {item.job.id!r} is already taken; choose another id"
    )


def foreign_batch(item: Planned) -> IdConflict:
    envelope = item.job.envelope
    return IdConflict(
        f"{dotted(item.label)}envelope.batch_id: {envelope.batch_id!r} is not a batch of"
        f" tenant {envelope.tenant!r}"
    )
