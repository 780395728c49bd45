"""The job: its envelope, its routing needs and its request; and how a bad one is reported.

The request model lives in ``broker.chat_request`` and the results in ``broker.job_results``;
both are re-exported here, so ``broker.jobs`` stays the one import for every schema. cascade,
not the caller, picks the model from the routing needs.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from broker.chat_request import (
    AssistantMessage,
    ChatMessage,
    CompletionRequest,
    ContentPart,
    DeveloperMessage,
    FunctionCall,
    FunctionDefinition,
    ImageContentPart,
    ImageURL,
    NamedToolChoice,
    ResponseFormat,
    SystemMessage,
    TextContentPart,
    ToolCall,
    ToolDefinition,
    ToolMessage,
    UserMessage,
)
from broker.ids import check_batch_id, check_id
from broker.job_results import (
    Attempt,
    AttemptOutcome,
    Choice,
    CompletionResult,
    FailedResult,
    JobResult,
    JobStatus,
    ResponseMessage,
    TargetRef,
    Usage,
)
from broker.strict import Strict as _Strict

__all__ = [
    "AssistantMessage",
    "Attempt",
    "AttemptOutcome",
    "Capability",
    "ChatMessage",
    "Choice",
    "CompletionJob",
    "CompletionRequest",
    "CompletionResult",
    "ContentPart",
    "DeveloperMessage",
    "FailedResult",
    "FunctionCall",
    "FunctionDefinition",
    "ImageContentPart",
    "ImageURL",
    "JobEnvelope",
    "JobResult",
    "JobStatus",
    "MaxPrice",
    "NamedToolChoice",
    "Priority",
    "ResponseFormat",
    "ResponseMessage",
    "RoutingNeeds",
    "SystemMessage",
    "TargetRef",
    "TextContentPart",
    "ToolCall",
    "ToolDefinition",
    "ToolMessage",
    "Usage",
    "UserMessage",
    "format_validation_error",
    "new_job_id",
    "required_capabilities",
]


# --- routing needs and the envelope ----------------------------------------------------


class Capability(StrEnum):
    VISION = "vision"
    TOOLS = "tools"
    JSON_OBJECT = "json_object"
    JSON_SCHEMA = "json_schema"


class MaxPrice(_Strict):
    """The highest catalog price a target may have, USD per million tokens (OpenRouter's
    ``provider.max_price``); a side left out is not limited."""

    input: float | None = Field(default=None, ge=0)
    output: float | None = Field(default=None, ge=0)


class RoutingNeeds(_Strict):
    """What the caller asks of the model: a tier or one catalog model, never a vendor's API."""

    tier: str | None = Field(default=None, min_length=1)
    model: str | None = Field(default=None, min_length=1)
    capabilities: frozenset[Capability] = frozenset()
    max_cost_usd: float | None = Field(default=None, gt=0)
    allowed_providers: frozenset[str] | None = None
    blocked_providers: frozenset[str] = frozenset()
    # A provider's safety refusal fails the job unless the caller lets another provider try.
    reroute_on_content_block: bool = False
    # How to order the targets; None follows the tier's policy (routing/policies.py).
    policy: Literal["ordered", "cheapest", "fastest"] | None = None
    # Only models whose catalog quality score is at least this (a model without one is dropped).
    min_quality: float | None = Field(default=None, ge=0, le=1)
    # A non-critical job near a spend cap goes to cheaper targets; a critical one uses the
    # provider until the cap itself.
    critical: bool = True
    # "complex" sends the job up its tier's escalate_to; "simple" keeps it on its tier.
    complexity_hint: Literal["simple", "complex"] | None = None
    # Check the answer against response_format's JSON schema; on a mismatch the job is tried
    # again on the next tier of its route (routing/escalation.py).
    validate_json_schema: bool = False
    # Catalog models to try once the tier's (or the model's) own route is spent, in order
    # (OpenRouter's ``models`` fallback list).
    fallback_models: tuple[str, ...] = ()
    # Providers whose targets go first, in this order; the others follow as planned.
    provider_order: tuple[str, ...] = ()
    max_price: MaxPrice | None = None
    # "auto": the job may wait for a provider's batch API (half price) when its deadline or its
    # batch's completion window leaves the time (routing/offload.py); "never" opts out.
    offload: Literal["auto", "never"] = "auto"
    # "auto": the job may wait for a cheaper price window of its first target when its
    # deadline allows (routing/offpeak.py); "never": it runs as soon as it can.
    offpeak: Literal["auto", "never"] = "auto"

    @model_validator(mode="after")
    def _tier_xor_model(self) -> RoutingNeeds:
        if (self.tier is None) == (self.model is None):
            raise ValueError("give exactly one of 'tier' and 'model'")
        return self


def new_job_id() -> str:
    return uuid.uuid4().hex


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Priority(StrEnum):
    """How soon a job wants its turn: the scheduler serves a higher priority first, with a
    bound on how long a lower one waits (broker/scheduler/picking.py)."""

    INTERACTIVE = "interactive"
    STANDARD = "standard"
    BULK = "bulk"


class JobEnvelope(_Strict):
    # Ids and the tenant become parts of Redis keys: broker/ids.py says why they hold no ':'.
    id: str = Field(default_factory=new_job_id)
    created_at: datetime = Field(default_factory=_utcnow)
    deadline: datetime | None = None
    tenant: str = "default"
    priority: Priority = Priority.STANDARD
    # Set by cascade's batch code; a submit refuses one that names no batch of the job's tenant.
    batch_id: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    # The worker streams the answer from the provider into the job's Redis stream as it comes
    # (broker/job_streams.py); the result is stored as for any other job.
    stream: bool = False

    @field_validator("id", "tenant")
    @classmethod
    def _key_safe(cls, value: str) -> str:
        return check_id(value)

    @field_validator("batch_id")
    @classmethod
    def _batch_key_safe(cls, value: str | None) -> str | None:
        return None if value is None else check_batch_id(value)

    @field_validator("deadline", "created_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("must carry a time zone, e.g. 2026-01-01T12:00:00Z")
        return value


class CompletionJob(_Strict):
    """What is stored at submit under the job id and read by the worker that runs it."""

    envelope: JobEnvelope = Field(default_factory=JobEnvelope)
    needs: RoutingNeeds
    request: CompletionRequest

    @property
    def id(self) -> str:
        return self.envelope.id


def required_capabilities(job: CompletionJob) -> frozenset[Capability]:
    """The capabilities a job needs: those it asked for and those its request implies."""
    needed = set(job.needs.capabilities)
    request = job.request
    if request.tools:
        needed.add(Capability.TOOLS)
    if request.response_format is not None and request.response_format.type != "text":
        needed.add(Capability(request.response_format.type))
    for message in request.messages:
        if isinstance(message, UserMessage) and isinstance(message.content, list):
            if any(isinstance(part, ImageContentPart) for part in message.content):
                needed.add(Capability.VISION)
    return frozenset(needed)


def format_validation_error(error: ValidationError, data: Any, prefix: str = "") -> str:
    """One line per bad field, led by its path in ``data``: ``request.messages[0].content: ...``.

    Pydantic puts union branch names (``str``, ``user``, ``list[...]``) into an error's location;
    they name no field the caller wrote, so the path follows only the keys and indexes found in
    the input, and the messages of several branches for one field are joined into one line.
    """
    messages: dict[str, list[str]] = {}
    for item in error.errors():
        path = _input_path(item["loc"], data, missing=item["type"] == "missing", prefix=prefix)
        message = "unknown field" if item["type"] == "extra_forbidden" else item["msg"]
        bucket = messages.setdefault(path or "(root)", [])
        if message not in bucket:
            bucket.append(message)
    # A field that matched one branch of a union deeply and another not at all gets errors at
    # both depths; the deeper ones say what is wrong, the shallow "should be a string" does not.
    deepest = {
        path: found
        for path, found in messages.items()
        if not any(other.startswith((f"{path}.", f"{path}[")) for other in messages)
    }
    return "\n".join(f"{path}: {' or '.join(found)}" for path, found in deepest.items())


def _input_path(loc: tuple[int | str, ...], data: Any, *, missing: bool, prefix: str) -> str:
    path, node = prefix, data
    for position, part in enumerate(loc):
        last = position == len(loc) - 1
        if isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            path, node = f"{path}[{part}]", node[part]
        elif isinstance(node, dict) and part in node:
            path, node = (f"{path}.{part}" if path else str(part)), node[part]
        elif isinstance(node, dict) and last and missing:
            path = f"{path}.{part}" if path else str(part)
    return path
