"""What a pipeline holds as it runs: one record per step round, and the final result."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import Field

from broker.strict import Strict

__all__ = ["PipelineResult", "PipelineStatus", "RunStatus", "StepRun", "step_job_id"]


class PipelineStatus(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


RunStatus = Literal["queued", "succeeded", "failed", "skipped"]


def step_job_id(pipeline_id: str, step: str, round_: int) -> str:
    """The job id of a step's round: the same on every driver, so a re-submit after a crash is
    refused as a duplicate by the job store instead of running the step twice."""
    return f"{pipeline_id}.{step}.{round_}"


class StepRun(Strict):
    """One round of one step: its job, and once the job ended, what it answered."""

    step: str
    round: int = Field(ge=0)
    status: RunStatus
    job_id: str | None = None
    tier: str | None = None
    model: str | None = None
    max_cost_usd: float | None = None
    feedback: str | None = None
    # set when the job ended
    provider: str | None = None
    text: str | None = None
    output: Any = None
    cost_usd: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    attempts: int = 0
    error: str | None = None
    # the answer did not match the step's output_schema (a failed round, not a failed job)
    schema_error: str | None = None


class PipelineResult(Strict):
    """The one final result: the output step's answer, every step's rounds, the total cost."""

    pipeline_id: str
    status: PipelineStatus
    name: str | None = None
    tenant: str = "default"
    output_step: str
    text: str | None = None
    output: Any = None
    error: str | None = None
    cost_usd: float = 0.0
    steps: list[StepRun] = Field(default_factory=list)
