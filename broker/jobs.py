"""The job and result schemas: what a caller submits and what it gets back.

A request is the OpenAI chat-completions body (https://platform.openai.com/docs/api-reference/chat),
less ``model`` and ``stream``: cascade, not the caller, picks the model from the routing needs.
Every model refuses unknown fields, so a typo is an error that names its path instead of a
silently ignored setting.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from broker.ids import check_batch_id, check_id

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


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- request: message content -------------------------------------------------------------


class TextContentPart(_Strict):
    type: Literal["text"]
    text: str


class ImageURL(_Strict):
    url: str = Field(min_length=1)
    detail: Literal["auto", "low", "high"] | None = None

    @field_validator("url")
    @classmethod
    def _http_or_data_url(cls, url: str) -> str:
        if not url.startswith(("http://", "https://", "data:")):
            raise ValueError("must be an http(s) URL or a data: URL")
        return url


class ImageContentPart(_Strict):
    type: Literal["image_url"]
    image_url: ImageURL


ContentPart = Annotated[TextContentPart | ImageContentPart, Field(discriminator="type")]


class FunctionCall(_Strict):
    name: str = Field(min_length=1)
    arguments: str  # a JSON document as a string, as OpenAI sends it


class ToolCall(_Strict):
    id: str = Field(min_length=1)
    type: Literal["function"] = "function"
    function: FunctionCall


class SystemMessage(_Strict):
    role: Literal["system"]
    content: str | list[TextContentPart]
    name: str | None = None


class DeveloperMessage(_Strict):
    role: Literal["developer"]
    content: str | list[TextContentPart]
    name: str | None = None


class UserMessage(_Strict):
    role: Literal["user"]
    content: str | list[ContentPart]
    name: str | None = None


class AssistantMessage(_Strict):
    role: Literal["assistant"]
    content: str | list[TextContentPart] | None = None
    name: str | None = None
    tool_calls: list[ToolCall] | None = None
    refusal: str | None = None

    @model_validator(mode="after")
    def _content_or_tool_calls(self) -> AssistantMessage:
        if self.content is None and not self.tool_calls:
            raise ValueError("an assistant message needs content or tool_calls")
        return self


class ToolMessage(_Strict):
    role: Literal["tool"]
    content: str | list[TextContentPart]
    tool_call_id: str = Field(min_length=1)


ChatMessage = Annotated[
    SystemMessage | DeveloperMessage | UserMessage | AssistantMessage | ToolMessage,
    Field(discriminator="role"),
]


# --- request: tools and output format ----------------------------------------------------


class FunctionDefinition(_Strict):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[a-zA-Z0-9_-]+$")
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class ToolDefinition(_Strict):
    type: Literal["function"]
    function: FunctionDefinition


class _ToolChoiceFunction(_Strict):
    name: str = Field(min_length=1)


class NamedToolChoice(_Strict):
    type: Literal["function"]
    function: _ToolChoiceFunction


class _JsonSchemaSpec(_Strict):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[a-zA-Z0-9_-]+$")
    description: str | None = None
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    strict: bool | None = None

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class ResponseFormat(_Strict):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: _JsonSchemaSpec | None = None

    @model_validator(mode="after")
    def _schema_when_needed(self) -> ResponseFormat:
        if self.type == "json_schema" and self.json_schema is None:
            raise ValueError("type 'json_schema' needs a json_schema object")
        if self.type != "json_schema" and self.json_schema is not None:
            raise ValueError(
                f"json_schema is only allowed with type 'json_schema', not {self.type!r}"
            )
        return self


# --- request ------------------------------------------------------------------------------


class CompletionRequest(_Strict):
    """An OpenAI chat-completions request body, without ``model`` and ``stream``."""

    messages: list[ChatMessage] = Field(min_length=1)
    tools: list[ToolDefinition] | None = None
    tool_choice: Literal["none", "auto", "required"] | NamedToolChoice | None = None
    parallel_tool_calls: bool | None = None
    response_format: ResponseFormat | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    stop: str | list[str] | None = None
    seed: int | None = None
    n: int = Field(default=1, ge=1, le=128)
    user: str | None = None
    metadata: dict[str, str] | None = None

    @field_validator("stop")
    @classmethod
    def _at_most_four_stops(cls, stop: str | list[str] | None) -> str | list[str] | None:
        if isinstance(stop, list) and not 1 <= len(stop) <= 4:
            raise ValueError("stop takes 1 to 4 sequences")
        return stop

    @model_validator(mode="after")
    def _tool_choice_needs_tools(self) -> CompletionRequest:
        if isinstance(self.tool_choice, NamedToolChoice):
            names = {tool.function.name for tool in self.tools or []}
            if self.tool_choice.function.name not in names:
                raise ValueError(
                    f"tool_choice names {self.tool_choice.function.name!r}, which is not in tools"
                )
        elif self.tool_choice == "required" and not self.tools:
            raise ValueError("tool_choice 'required' needs at least one tool")
        return self

    @property
    def output_token_limit(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens


# --- routing needs and the envelope ----------------------------------------------------


class Capability(StrEnum):
    VISION = "vision"
    TOOLS = "tools"
    JSON_OBJECT = "json_object"
    JSON_SCHEMA = "json_schema"


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


# --- results ------------------------------------------------------------------------------


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


class Usage(_Strict):
    """Token usage, OpenAI's convention: prompt_tokens includes cached tokens,
    completion_tokens includes reasoning tokens."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0


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
