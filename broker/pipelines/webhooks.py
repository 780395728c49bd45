"""Webhooks for pipelines: the ``pipeline:<id>`` subject of the existing webhook registry.

The finish script announces the subject on the registrations channel, so a dispatcher looks at
it at once; this module gives the dispatcher the body to send for it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from broker.pipelines.state import PipelineStore

__all__ = ["PIPELINE_SUBJECT", "PayloadFor", "with_pipelines"]

PIPELINE_SUBJECT = "pipeline"
PayloadFor = Callable[[str], tuple[str, dict[str, Any]] | None]


def with_pipelines(payload_for: PayloadFor, store: PipelineStore) -> PayloadFor:
    """``payload_for`` (jobs and batches) that also answers ``pipeline:<id>`` once it ended."""

    def payload(subject: str) -> tuple[str, dict[str, Any]] | None:
        kind, _, pipeline_id = subject.partition(":")
        if kind != PIPELINE_SUBJECT:
            return payload_for(subject)
        record = store.load(pipeline_id)
        if record is None or record.result is None:
            return None
        event = f"pipeline.{record.result.status.value}"
        return event, {"type": event, "pipeline": record.result.model_dump(mode="json")}

    return payload
