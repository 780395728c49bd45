"""The batch record: its id, counts, status and OpenAI's Batch object; no Redis here.

A batch is validated before it exists. It is ``validating`` while its jobs are being enqueued
(and stays so if the enqueue failed part-way: the tenant sees it, and can cancel it or submit it
again), ``in_progress`` once every job is queued, ``completed`` once every job has ended, and
``cancelling`` then ``cancelled`` after a cancel. Jobs ended by a cancel fail with the error class
``CANCELLED`` and are counted apart from real failures.
"""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Any

from pydantic import BaseModel

__all__ = [
    "CANCELLED",
    "BatchCounts",
    "BatchRecord",
    "BatchStatus",
    "UnknownBatch",
    "batch_status",
    "new_batch_id",
]

# The error class of a job ended by its batch's cancel.
CANCELLED = "Cancelled"


class UnknownBatch(LookupError):
    """No batch with this id (never created, expired, or another tenant's)."""


def new_batch_id() -> str:
    return f"batch_{uuid.uuid4().hex}"


class BatchStatus(StrEnum):
    """OpenAI's batch statuses that cascade uses; ``validating``: its jobs are being enqueued."""

    VALIDATING = "validating"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    CANCELLING = "cancelling"
    CANCELLED = "cancelled"


class BatchCounts(BaseModel):
    total: int = 0
    queued: int = 0
    running: int = 0
    succeeded: int = 0
    failed: int = 0
    cancelled: int = 0

    @property
    def finished(self) -> int:
        return self.succeeded + self.failed + self.cancelled


def batch_status(
    counts: BatchCounts, *, cancel_requested: bool, enqueuing: bool = False
) -> BatchStatus:
    done = counts.finished >= counts.total
    if cancel_requested:
        return BatchStatus.CANCELLED if done else BatchStatus.CANCELLING
    if enqueuing:
        return BatchStatus.VALIDATING
    return BatchStatus.COMPLETED if done else BatchStatus.IN_PROGRESS


class BatchRecord(BaseModel):
    """A batch as cascade reports it; ``to_openai`` gives OpenAI's Batch object."""

    id: str
    tenant: str
    endpoint: str
    input_file_id: str | None
    completion_window: str
    status: BatchStatus
    counts: BatchCounts
    created_at: int
    in_progress_at: int | None = None
    completed_at: int | None = None
    cancelling_at: int | None = None
    cancelled_at: int | None = None
    metadata: dict[str, str] | None = None

    @property
    def done(self) -> bool:
        return self.status in (BatchStatus.COMPLETED, BatchStatus.CANCELLED)

    def to_openai(self) -> dict[str, Any]:
        counts = self.counts
        errors = counts.failed + counts.cancelled > 0
        return {
            "id": self.id,
            "object": "batch",
            "endpoint": self.endpoint,
            "errors": None,
            "input_file_id": self.input_file_id or "",
            "completion_window": self.completion_window,
            "status": self.status.value,
            "output_file_id": f"{self.id}-output" if self.done else None,
            # OpenAI leaves it null when no request failed; so does cascade.
            "error_file_id": f"{self.id}-errors" if self.done and errors else None,
            "created_at": self.created_at,
            "in_progress_at": self.in_progress_at,
            "expires_at": None,
            "finalizing_at": None,
            "completed_at": self.completed_at,
            "failed_at": None,
            "expired_at": None,
            "cancelling_at": self.cancelling_at,
            "cancelled_at": self.cancelled_at,
            "request_counts": {
                "total": counts.total,
                "completed": counts.succeeded,
                "failed": counts.failed + counts.cancelled,
            },
            "metadata": self.metadata,
            # cascade's own fields
            "tenant": self.tenant,
            "counts": counts.model_dump(),
        }
