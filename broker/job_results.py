"""What a caller gets back: a chat.completion with cascade's fields, or a failure, and attempts."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from broker.chat_request import ToolCall
from broker.strict import Strict as _Strict

__all__ = [
    "Attempt",
    "AttemptOutcome",
    "Choice",
    "CompletionResult",
    "CompletionTokensDetails",
    "FailedResult",
    "JobResult",
    "JobStatus",
    "PromptTokensDetails",
    "ResponseMessage",
    "TargetRef",
    "Usage",
]


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class AttemptOutcome(StrEnum):
    SUCCESS = "success"
    RETRY = "retry"  # failed, tried again on the same target
    REROUTE = "reroute"  # failed, the job moved on to the next target
    FAILED = "failed"  # failed, and the job failed with it
    SKIPPED = "skipped"  # no call made: the target was passed over


class TargetRef(_Strict):
    provider: str
    model: str  # the catalog's model name
    model_id: str  # the provider's own model id
    tier: str
    queue: str


class PromptTokensDetails(_Strict):
    cached_tokens: int = 0


class CompletionTokensDetails(_Strict):
    reasoning_tokens: int = 0


class Usage(_Strict):
    """Token usage, OpenAI's convention: prompt_tokens includes cached tokens,
    completion_tokens includes reasoning tokens.

    ``cached_tokens`` and ``reasoning_tokens`` are also given in OpenAI's nested shape
    (``prompt_tokens_details``, ``completion_tokens_details``), which the SDKs read; the nested
    fields are always worked out from the flat ones, so the two never disagree.
    """

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    prompt_tokens_details: PromptTokensDetails = PromptTokensDetails()
    completion_tokens_details: CompletionTokensDetails = CompletionTokensDetails()

    @model_validator(mode="before")
    @classmethod
    def _details_from_flat_fields(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        data["prompt_tokens_details"] = {"cached_tokens": data.get("cached_tokens", 0)}
        data["completion_tokens_details"] = {"reasoning_tokens": data.get("reasoning_tokens", 0)}
        return data


class Attempt(_Strict):
    target: TargetRef
    hop: int = Field(ge=0)
    run: int = Field(default=0, ge=0, description="0, then 1, 2, ... for each replay of the job")
    number: int = Field(ge=1, description="the attempt's number on this target")
    started_at: datetime
    duration_s: float = Field(ge=0)
    outcome: AttemptOutcome
    error_class: str | None = None
    error_message: str | None = None
    status_code: int | None = None
    usage: Usage | None = None
    cost_usd: float = 0.0
    worker: str | None = None


class ResponseMessage(_Strict):
    role: Literal["assistant"] = "assistant"
    content: str | None = None
    tool_calls: list[ToolCall] | None = None
    refusal: str | None = None


class Choice(_Strict):
    index: int
    message: ResponseMessage
    finish_reason: Literal["stop", "length", "tool_calls", "content_filter", "function_call"]
    # OpenAI's choices[].logprobs ({"content": [{token, logprob, bytes, top_logprobs}], ...}) as
    # the provider gave it, when the request asked for logprobs and the provider returns them
    logprobs: dict[str, Any] | None = None


class CompletionResult(_Strict):
    """A chat.completion object, as OpenAI returns it, plus what cascade knows of the job."""

    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: Usage
    system_fingerprint: str | None = None
    # cascade's own fields
    status: Literal[JobStatus.SUCCEEDED] = JobStatus.SUCCEEDED
    job_id: str
    provider: str
    tier: str
    cost_usd: float
    attempts: list[Attempt]
    batch_id: str | None = None
    tenant: str = "default"
    finished_at: datetime


class FailedResult(_Strict):
    """A job that ended without an answer, with every attempt it made."""

    status: Literal[JobStatus.FAILED] = JobStatus.FAILED
    job_id: str
    error_class: str
    error_message: str
    attempts: list[Attempt]
    batch_id: str | None = None
    tenant: str = "default"
    finished_at: datetime


JobResult = Annotated[CompletionResult | FailedResult, Field(discriminator="status")]
