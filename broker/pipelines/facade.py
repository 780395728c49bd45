"""The pipelines API a producer uses: submit one (a definition or a catalog name), read its
status and steps, wait for its result, cancel it.

A definition is checked whole (fields, references, cycles, tiers, the envelope) before anything
is written; its first steps are submitted by the driver, which this submit runs once at once, so
a pipeline starts without waiting for a driver's event or sweep.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from typing import Any

import redis
from pydantic import ValidationError

from broker.client import CascadeClient, IdConflict
from broker.jobs import JobEnvelope, format_validation_error
from broker.pipelines.driver import PipelineDriver
from broker.pipelines.graph import PipelineError, input_problems, parse_pipeline
from broker.pipelines.records import PipelineResult, PipelineStatus
from broker.pipelines.spec import PipelineSpec, name_problem
from broker.pipelines.state import PipelineRecord, PipelineTaken

__all__ = ["PipelineTimeout", "Pipelines", "UnknownPipeline"]


class UnknownPipeline(LookupError):
    """No pipeline with this id for this tenant (never submitted, expired, or another's)."""


class PipelineTimeout(TimeoutError):
    """The pipeline did not end within the time the caller was willing to wait."""


class Pipelines:
    def __init__(
        self, client: CascadeClient, named: Mapping[str, PipelineSpec] | None = None
    ) -> None:
        self.client = client
        self.driver = PipelineDriver(client)
        self.store = self.driver.store
        self.named = dict(named or {})

    def resolve(self, pipeline: PipelineSpec | Mapping[str, Any] | str) -> PipelineSpec:
        """A checked definition from a definition, its JSON form, or a catalog name."""
        if isinstance(pipeline, PipelineSpec):
            return pipeline
        if isinstance(pipeline, str):
            if pipeline not in self.named:
                known = ", ".join(sorted(self.named)) or "none"
                raise PipelineError(f"pipeline: no pipeline named {pipeline!r} (known: {known})")
            return self.named[pipeline]
        return parse_pipeline(dict(pipeline), tiers=self.client.catalog.tiers)

    def submit(
        self,
        pipeline: PipelineSpec | Mapping[str, Any] | str,
        data: Mapping[str, Any] | None = None,
        *,
        pipeline_id: str | None = None,
        tenant: str = "default",
        envelope: Mapping[str, Any] | None = None,
    ) -> str:
        """Check and store a pipeline, submit its first steps; returns its id.

        The same id submitted again by the same tenant is not run twice (its id is returned);
        an id another tenant holds is refused with ``IdConflict``.
        """
        spec = self.resolve(pipeline)
        pid = pipeline_id or uuid.uuid4().hex
        if (problem := name_problem(pid)) is not None:
            raise PipelineError(f"pipeline_id: {problem}")
        if problems := input_problems(spec, dict(data or {})):
            raise PipelineError("\n".join(problems))
        extra = dict(envelope or {})
        _check_envelope({**extra, "tenant": tenant})
        try:
            self.store.create(pid, tenant, spec, dict(data or {}), extra)
        except PipelineTaken as exc:
            raise IdConflict(f"pipeline_id: {pid!r} is taken") from exc
        self.driver.advance(pid)
        return pid

    def record(self, pipeline_id: str, tenant: str | None = None) -> PipelineRecord:
        """The pipeline's definition, status and step rounds; ``tenant`` given: only its own."""
        found = self.store.load(pipeline_id)
        if found is None or (tenant is not None and found.tenant != tenant):
            raise UnknownPipeline(pipeline_id)
        return found

    def wait(self, pipeline_id: str, timeout: float, tenant: str | None = None) -> PipelineResult:
        """Block until the pipeline ends, at most ``timeout`` seconds; raises PipelineTimeout."""
        deadline = time.monotonic() + timeout
        channel = self.client.keys.pipeline_channel(pipeline_id)
        while True:
            pubsub = self.client.redis.pubsub(ignore_subscribe_messages=True)
            try:
                pubsub.subscribe(channel)
                while (left := deadline - time.monotonic()) > 0:
                    found = self.record(pipeline_id, tenant).result
                    if found is not None:
                        return found
                    pubsub.get_message(timeout=min(left, 1.0))
            except (redis.ConnectionError, redis.TimeoutError):
                time.sleep(0.2)
            finally:
                pubsub.close()
            if time.monotonic() >= deadline:
                raise PipelineTimeout(f"pipeline {pipeline_id} did not end within {timeout:g}s")

    def cancel(self, pipeline_id: str, tenant: str | None = None) -> bool:
        """End the pipeline as cancelled and cancel its unfinished steps; False if it had ended."""
        record = self.record(pipeline_id, tenant)
        result = PipelineResult(
            pipeline_id=pipeline_id,
            status=PipelineStatus.CANCELLED,
            name=record.spec.name,
            tenant=record.tenant,
            output_step=record.spec.output_step,
            error="cancelled",
            cost_usd=sum(run.cost_usd for runs in record.runs.values() for run in runs),
            steps=[run for runs in record.runs.values() for run in runs],
        )
        ended = self.store.finish(result)
        # Also after an earlier cancel: a driver that was mid-advance may have queued a step
        # after the first cancel read the rounds.
        queued = [
            run.job_id
            for runs in (self.store.load(pipeline_id) or record).runs.values()
            for run in runs
            if run.status == "queued" and run.job_id
        ]
        self.store.cancel_jobs(record.tenant, queued, "the pipeline was cancelled")
        return ended


def _check_envelope(envelope: Mapping[str, Any]) -> None:
    try:
        JobEnvelope.model_validate(dict(envelope))
    except ValidationError as exc:
        raise PipelineError(
            format_validation_error(exc, dict(envelope), prefix="envelope")
        ) from exc
