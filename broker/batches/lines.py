"""Batch input: OpenAI Batch API JSONL lines checked one by one and turned into jobs.

Input is the OpenAI Batch API's JSONL (https://platform.openai.com/docs/api-reference/batch/request-input):
one ``{"custom_id", "method", "url", "body"}`` object per line, ``body`` a chat-completions
request. ``body.model`` names a cascade tier (``"fast"``) or one catalog model (``"a1"``); any
other name is refused, listing both. Every line is checked before anything is written: one bad
line refuses the whole file, naming its line number and the field as the line spells it.
Job ids are ``<batch id>-<line number>``, so a batch submitted twice with the same id never runs
a line twice.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from broker.client import SubmitError
from broker.jobs import CompletionJob, Priority, format_validation_error
from routing.catalog import Catalog

__all__ = [
    "BATCH_ENDPOINT",
    "BatchInputError",
    "BatchLine",
    "LineError",
    "input_error_from_submit",
    "needs_for_model",
    "parse_batch_lines",
]

BATCH_ENDPOINT = "/v1/chat/completions"
_MAX_REPORTED = 20
_LINE_KEYS = frozenset({"custom_id", "method", "url", "body"})
_SUBMIT_ERROR = re.compile(r"^jobs\[(\d+)\]\.(\S+?): (.*)$", re.DOTALL)
# submit_many names fields of the job; a batch line names fields of the line.
_FIELD_OF_LINE = {
    "needs.tier": "body.model",
    "needs.model": "body.model",
    "needs": "body",
    "envelope.id": "custom_id",
}


@dataclass(frozen=True, slots=True)
class LineError:
    """One refused line: its 1-based number, the field (``body.messages[0].content``), why."""

    line: int
    param: str
    message: str
    code: str = "invalid_request"

    def __str__(self) -> str:
        return f"line {self.line}: {self.param}: {self.message}"


class BatchInputError(ValueError):
    """The batch input was refused; nothing was enqueued. ``errors`` lists the first bad lines."""

    def __init__(self, errors: Sequence[LineError], *, more: bool = False) -> None:
        self.errors = list(errors)
        self.more = more
        text = "\n".join(str(item) for item in self.errors)
        super().__init__(text + ("\n(further errors not shown)" if more else ""))


@dataclass(frozen=True, slots=True)
class BatchLine:
    """One accepted line: its number, its ``custom_id`` and the job built from it."""

    number: int
    custom_id: str
    job: CompletionJob


def needs_for_model(model: Any, catalog: Catalog) -> dict[str, str]:
    """Routing needs for an OpenAI ``model`` field: a tier name first, then a catalog model."""
    if not isinstance(model, str) or not model:
        raise ValueError("must name a cascade tier or catalog model")
    if model in catalog.tiers:
        return {"tier": model}
    if any(item.name == model for item in catalog.models):
        return {"model": model}
    tiers = ", ".join(sorted(catalog.tiers))
    models = ", ".join(sorted(item.name for item in catalog.models))
    raise ValueError(f"unknown model {model!r}; name a tier ({tiers}) or a model ({models})")


@dataclass(slots=True)
class _LineContext:
    catalog: Catalog
    batch_id: str
    tenant: str
    endpoint: str
    default_tier: str | None
    priority: str
    seen: dict[str, int] = field(default_factory=dict)


class _Refused(Exception):
    def __init__(self, param: str, message: str) -> None:
        super().__init__(message)
        self.param = param
        self.message = message


def _line_object(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _Refused("(line)", f"not valid JSON: {exc.msg} at column {exc.colno}") from exc
    except RecursionError as exc:
        raise _Refused("(line)", "JSON nested too deep") from exc
    if not isinstance(data, dict):
        raise _Refused("(line)", "must be a JSON object")
    for key in data:
        if key not in _LINE_KEYS:
            raise _Refused(str(key), "unknown field")
    for key in ("custom_id", "method", "url", "body"):
        if key not in data:
            raise _Refused(key, "Field required")
    return data


def _custom_id(data: dict[str, Any], number: int, context: _LineContext) -> str:
    custom_id = data["custom_id"]
    if not isinstance(custom_id, str) or not custom_id:
        raise _Refused("custom_id", "must be a non-empty string")
    if custom_id in context.seen:
        raise _Refused(
            "custom_id", f"{custom_id!r} is already used on line {context.seen[custom_id]}"
        )
    context.seen[custom_id] = number
    return custom_id


def _needs(body: dict[str, Any], context: _LineContext) -> dict[str, str]:
    if body.get("stream"):
        raise _Refused("body.stream", "streaming is not supported in a batch; leave it out")
    if "model" not in body:
        if context.default_tier is None:
            raise _Refused("body.model", "Field required")
        return {"tier": context.default_tier}
    try:
        return needs_for_model(body["model"], context.catalog)
    except ValueError as exc:
        raise _Refused("body.model", str(exc)) from exc


def _parse_line(text: str, number: int, context: _LineContext) -> BatchLine:
    data = _line_object(text)
    custom_id = _custom_id(data, number, context)
    if data["method"] != "POST":
        raise _Refused("method", f"must be 'POST', not {data['method']!r}")
    if data["url"] != context.endpoint:
        raise _Refused("url", f"must be {context.endpoint!r}, the batch's endpoint")
    body = data["body"]
    if not isinstance(body, dict):
        raise _Refused("body", "must be a JSON object")
    needs = _needs(body, context)
    fields = {key: value for key, value in body.items() if key not in ("model", "stream")}
    data = {
        "envelope": {
            "id": f"{context.batch_id}-{number}",
            "tenant": context.tenant,
            "priority": context.priority,
            "batch_id": context.batch_id,
            "tags": {"custom_id": custom_id},
        },
        "needs": needs,
        "request": fields,
    }
    try:
        # One validation of the whole job: building it from validated parts re-validates each.
        job = CompletionJob.model_validate(data)
    except ValidationError as exc:
        first = format_validation_error(exc, data).splitlines()[0]
        param, _, message = first.partition(": ")
        raise _Refused(_line_field(param), message) from exc
    return BatchLine(number, custom_id, job)


def _line_field(job_field: str) -> str:
    """The batch line's name for a field of the job built from it."""
    if job_field.startswith("request"):
        return "body" + job_field.removeprefix("request")
    if job_field.startswith("envelope"):
        return "custom_id"
    return _FIELD_OF_LINE.get(job_field, job_field)


def parse_batch_lines(
    lines: Iterable[str],
    catalog: Catalog,
    *,
    batch_id: str,
    tenant: str = "default",
    endpoint: str = BATCH_ENDPOINT,
    default_tier: str | None = None,
    priority: str = "bulk",
) -> list[BatchLine]:
    """Every non-blank line as a job, or BatchInputError naming the first bad lines.

    Every line gets the batch's ``priority``: bulk unless the batch says otherwise, so that a
    batch never holds up interactive work."""
    if endpoint != BATCH_ENDPOINT:
        raise BatchInputError([LineError(0, "endpoint", f"only {BATCH_ENDPOINT!r} is supported")])
    if priority not in {item.value for item in Priority}:
        allowed = ", ".join(item.value for item in Priority)
        problem = f"{priority!r} is not a priority; use one of {allowed}"
        raise BatchInputError([LineError(0, "metadata.priority", problem)])
    context = _LineContext(catalog, batch_id, tenant, endpoint, default_tier, priority)
    parsed: list[BatchLine] = []
    errors: list[LineError] = []
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            parsed.append(_parse_line(text, number, context))
        except _Refused as exc:
            errors.append(LineError(number, exc.param, exc.message))
            if len(errors) > _MAX_REPORTED:
                raise BatchInputError(errors[:_MAX_REPORTED], more=True) from None
    if errors:
        raise BatchInputError(errors)
    if not parsed:
        raise BatchInputError([LineError(0, "(file)", "holds no request")])
    return parsed


def input_error_from_submit(exc: SubmitError, lines: Sequence[BatchLine]) -> BatchInputError:
    """``submit_many``'s refusal (``jobs[3].needs.tier: ...``) named by batch line and field."""
    found = _SUBMIT_ERROR.match(str(exc))
    if found is None:
        return BatchInputError([LineError(0, "(batch)", str(exc))])
    line = lines[int(found.group(1))].number
    param = _line_field(found.group(2))
    return BatchInputError([LineError(line, param, found.group(3))])
