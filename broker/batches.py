"""Batches: OpenAI Batch API input checked line by line, batch records, output files, cancel.

Input is the OpenAI Batch API's JSONL (https://platform.openai.com/docs/api-reference/batch/request-input):
one ``{"custom_id", "method", "url", "body"}`` object per line, ``body`` a chat-completions
request. ``body.model`` names a cascade tier (``"fast"``) or one catalog model (``"a1"``); any
other name is refused, listing both. Every line is checked and planned before anything is
written: one bad line refuses the whole file, naming its line number and field.

Job ids are ``<batch id>-<line number>``, so a batch submitted twice with the same id never runs a
line twice. The workers' finish script counts each ending in the batch hash (``succeeded``,
``failed``); a cancel ends every unfinished job at once with a ``Cancelled`` failure (counted as
``cancelled``), and a worker that later takes one of its messages finds a final result and stands
down, so cancelling needs nothing from the workers. Output follows OpenAI's batch output format
(``{"id", "custom_id", "response": {"status_code", "request_id", "body"}, "error"}``), with
failures in a separate errors file.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, cast

from pydantic import BaseModel, ValidationError

from broker.client import CascadeClient, SubmitError
from broker.jobs import (
    CompletionJob,
    CompletionResult,
    FailedResult,
    JobStatus,
    format_validation_error,
)
from broker.webhooks import WebhookRegistry
from routing.catalog import Catalog

__all__ = [
    "BATCH_ENDPOINT",
    "CANCELLED",
    "BatchCounts",
    "BatchInputError",
    "BatchLine",
    "BatchRecord",
    "BatchStatus",
    "Batches",
    "LineError",
    "UnknownBatch",
    "batch_status",
    "needs_for_model",
    "new_batch_id",
    "output_line",
    "parse_batch_lines",
]

BATCH_ENDPOINT = "/v1/chat/completions"
# The error class of a job ended by its batch's cancel.
CANCELLED = "Cancelled"
_MAX_REPORTED = 20
_CHUNK = 1000
_EXACT_LIMIT = 10_000
_LINE_KEYS = frozenset({"custom_id", "method", "url", "body"})
_SUBMIT_ERROR = re.compile(r"^jobs\[(\d+)\]\.(\S+?): (.*)$", re.DOTALL)
# submit_many names fields of the job; a batch line names fields of the line.
_FIELD_OF_LINE = {
    "needs.tier": "body.model",
    "needs.model": "body.model",
    "needs": "body",
    "envelope.id": "custom_id",
}

# KEYS: batch hash, then (result, job hash) per job.
# ARGV: ttl, now, batch channel, events channel, then (result JSON, event JSON, done channel) per
# job. A job that already has a result is left alone; one that has not ends as cancelled, with
# the same status, counters and events as a worker's finish, so waiters and subscribers wake.
_CANCEL = """
local ended = 0
for i = 1, (#KEYS - 1) / 2 do
  local base = 4 + 3 * (i - 1)
  if redis.call('SET', KEYS[2 * i], ARGV[base + 1], 'NX', 'EX', ARGV[1]) then
    redis.call('HSET', KEYS[2 * i + 1], 'status', 'failed', 'finished_at', ARGV[2])
    redis.call('EXPIRE', KEYS[2 * i + 1], ARGV[1])
    redis.call('HINCRBY', KEYS[1], 'cancelled', 1)
    redis.call('PUBLISH', ARGV[base + 3], 'failed')
    redis.call('PUBLISH', ARGV[4], ARGV[base + 2])
    redis.call('PUBLISH', ARGV[3], ARGV[base + 2])
    ended = ended + 1
  end
end
return ended
"""


# --- input ------------------------------------------------------------------------------


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


class UnknownBatch(LookupError):
    """No batch with this id (never created, expired, or another tenant's)."""


@dataclass(frozen=True, slots=True)
class BatchLine:
    number: int
    custom_id: str
    job: CompletionJob


def new_batch_id() -> str:
    return f"batch_{uuid.uuid4().hex}"


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
) -> list[BatchLine]:
    """Every non-blank line as a job, or BatchInputError naming the first bad lines."""
    if endpoint != BATCH_ENDPOINT:
        raise BatchInputError([LineError(0, "endpoint", f"only {BATCH_ENDPOINT!r} is supported")])
    context = _LineContext(catalog, batch_id, tenant, endpoint, default_tier)
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


def _line_error_from_submit(exc: SubmitError, lines: Sequence[BatchLine]) -> BatchInputError:
    found = _SUBMIT_ERROR.match(str(exc))
    if found is None:
        return BatchInputError([LineError(0, "(batch)", str(exc))])
    line = lines[int(found.group(1))].number
    param = _line_field(found.group(2))
    return BatchInputError([LineError(line, param, found.group(3))])


# --- records ----------------------------------------------------------------------------


class BatchStatus(StrEnum):
    """OpenAI's batch statuses that cascade uses (a batch is validated before it exists)."""

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


def batch_status(counts: BatchCounts, *, cancel_requested: bool) -> BatchStatus:
    done = counts.finished >= counts.total
    if cancel_requested:
        return BatchStatus.CANCELLED if done else BatchStatus.CANCELLING
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
        return {
            "id": self.id,
            "object": "batch",
            "endpoint": self.endpoint,
            "errors": None,
            "input_file_id": self.input_file_id or "",
            "completion_window": self.completion_window,
            "status": self.status.value,
            "output_file_id": f"{self.id}-output" if self.done else None,
            "error_file_id": f"{self.id}-errors" if self.done else None,
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


def output_line(
    job_id: str, custom_id: str, result: CompletionResult | FailedResult
) -> dict[str, Any]:
    """One line of the output file (a success) or of the errors file (a failure)."""
    line_id = f"batch_req_{job_id}"
    if isinstance(result, CompletionResult):
        response = {
            "status_code": 200,
            "request_id": job_id,
            "body": result.model_dump(mode="json"),
        }
        return {"id": line_id, "custom_id": custom_id, "response": response, "error": None}
    code = "batch_cancelled" if result.error_class == CANCELLED else result.error_class
    error = {"code": code, "message": result.error_message}
    return {"id": line_id, "custom_id": custom_id, "response": None, "error": error}


# --- the batch API ----------------------------------------------------------------------


def _int(raw: bytes | None) -> int | None:
    return None if raw is None else int(float(raw))


class Batches:
    """Submit, read, wait for, subscribe to and cancel batches; built on a ``CascadeClient``."""

    def __init__(self, client: CascadeClient) -> None:
        self.client = client
        self.redis = client.redis
        self.keys = client.keys
        self.ttl_s = client.settings.result_ttl_s
        self.webhooks = WebhookRegistry(client.redis, client.keys, client.settings.result_ttl_s)
        self._cancel = client.redis.register_script(_CANCEL)

    # --- submit ----------------------------------------------------------------------

    def submit_file(self, path: str | Path, **options: Any) -> BatchRecord:
        with Path(path).open(encoding="utf-8") as handle:
            return self.submit_lines(handle, **options)

    def submit(self, requests: Iterable[Mapping[str, Any]], **options: Any) -> BatchRecord:
        """Submit request objects shaped like the JSONL lines (``custom_id``, ``body``, ...)."""
        return self.submit_lines((json.dumps(dict(item)) for item in requests), **options)

    def submit_lines(
        self,
        lines: Iterable[str],
        *,
        tenant: str = "default",
        endpoint: str = BATCH_ENDPOINT,
        completion_window: str = "24h",
        metadata: Mapping[str, str] | None = None,
        input_file_id: str | None = None,
        default_tier: str | None = None,
        webhook_url: str | None = None,
        batch_id: str | None = None,
    ) -> BatchRecord:
        """Check every line, then enqueue every job and write the batch record.

        Raises BatchInputError (nothing enqueued) naming the bad lines.
        """
        batch_id = batch_id or new_batch_id()
        parsed = parse_batch_lines(
            lines,
            self.client.catalog,
            batch_id=batch_id,
            tenant=tenant,
            endpoint=endpoint,
            default_tier=default_tier,
        )
        try:
            job_ids = self.client.submit_many([line.job for line in parsed])
        except SubmitError as exc:
            raise _line_error_from_submit(exc, parsed) from exc
        now = int(time.time())
        pipe = self.redis.pipeline(transaction=False)
        pipe.hset(
            self.keys.batch(batch_id),
            mapping={
                "id": batch_id,
                "tenant": tenant,
                "endpoint": endpoint,
                "input_file_id": input_file_id or "",
                "completion_window": completion_window,
                "metadata": json.dumps(dict(metadata or {})),
                "total": len(job_ids),
                "created_at": now,
                "in_progress_at": now,
            },
        )
        for start in range(0, len(parsed), 10 * _CHUNK):
            chunk = parsed[start : start + 10 * _CHUNK]
            pipe.rpush(self.keys.batch_jobs(batch_id), *[line.job.id for line in chunk])
            pipe.rpush(self.keys.batch_custom_ids(batch_id), *[line.custom_id for line in chunk])
        pipe.zadd(self.keys.tenant_batches(tenant), {batch_id: time.time()})
        for key in (
            self.keys.batch(batch_id),
            self.keys.batch_jobs(batch_id),
            self.keys.batch_custom_ids(batch_id),
        ):
            pipe.expire(key, self.ttl_s)
        pipe.execute()
        if webhook_url:
            self.webhooks.watch(f"batch:{batch_id}", webhook_url, tenant)
        return self.get(batch_id)

    # --- read ------------------------------------------------------------------------

    def get(self, batch_id: str, *, tenant: str | None = None, exact: bool = True) -> BatchRecord:
        """The batch record; with ``tenant``, another tenant's batch is UnknownBatch.

        ``exact`` splits unfinished jobs into queued and running by reading their statuses
        (pipelined, batches of up to 10,000 jobs); otherwise every unfinished job counts as
        queued.
        """
        raw = self.redis.hgetall(self.keys.batch(batch_id))
        fields = {_text(key): _text(value) for key, value in raw.items()}
        if "total" not in fields or (tenant is not None and fields["tenant"] != tenant):
            raise UnknownBatch(batch_id)
        counts = BatchCounts(
            total=int(fields["total"]),
            succeeded=int(fields.get("succeeded", 0)),
            failed=int(fields.get("failed", 0)),
            cancelled=int(fields.get("cancelled", 0)),
        )
        unfinished = max(counts.total - counts.finished, 0)
        # Reading every status costs one pipelined HGET per job: above _EXACT_LIMIT jobs a
        # record is read without it, and running jobs count as queued.
        exact = exact and counts.total <= _EXACT_LIMIT
        running = self._running(batch_id) if exact and unfinished else 0
        counts.running = min(running, unfinished)
        counts.queued = unfinished - counts.running
        status = batch_status(counts, cancel_requested="cancelling_at" in fields)
        fields.update(self._stamp_end(batch_id, status, fields))
        return BatchRecord(
            id=batch_id,
            tenant=fields["tenant"],
            endpoint=fields["endpoint"],
            input_file_id=fields.get("input_file_id") or None,
            completion_window=fields.get("completion_window", "24h"),
            status=status,
            counts=counts,
            created_at=int(fields["created_at"]),
            in_progress_at=_int(_raw(fields, "in_progress_at")),
            completed_at=_int(_raw(fields, "completed_at")),
            cancelling_at=_int(_raw(fields, "cancelling_at")),
            cancelled_at=_int(_raw(fields, "cancelled_at")),
            metadata=json.loads(fields.get("metadata", "{}")) or None,
        )

    def _stamp_end(
        self, batch_id: str, status: BatchStatus, fields: dict[str, str]
    ) -> dict[str, str]:
        """Record when the batch was first seen to end (HSETNX: the first reader's time stays)."""
        name = {BatchStatus.COMPLETED: "completed_at", BatchStatus.CANCELLED: "cancelled_at"}.get(
            status
        )
        if name is None or name in fields:
            return {}
        now = str(int(time.time()))
        self.redis.hsetnx(self.keys.batch(batch_id), name, now)
        return {name: _text(self.redis.hget(self.keys.batch(batch_id), name)) or now}

    def _running(self, batch_id: str) -> int:
        running = 0
        for chunk in self._job_id_chunks(batch_id):
            pipe = self.redis.pipeline(transaction=False)
            for job_id in chunk:
                pipe.hget(self.keys.job(job_id), "status")
            running += sum(1 for item in pipe.execute() if item == b"running")
        return running

    def list_batches(
        self, tenant: str, *, after: str | None = None, limit: int = 20
    ) -> tuple[list[BatchRecord], bool]:
        """A tenant's batches, newest first, after the batch ``after``; and whether more exist."""
        ids = [
            _text(item)
            for item in cast(
                list[bytes], self.redis.zrevrange(self.keys.tenant_batches(tenant), 0, -1)
            )
        ]
        if after is not None and after in ids:
            ids = ids[ids.index(after) + 1 :]
        records: list[BatchRecord] = []
        for batch_id in ids:
            if len(records) > limit:
                break
            try:
                records.append(self.get(batch_id, tenant=tenant, exact=False))
            except UnknownBatch:
                continue
        return records[:limit], len(records) > limit

    def job_ids(self, batch_id: str) -> list[str]:
        return [_text(item) for item in self.redis.lrange(self.keys.batch_jobs(batch_id), 0, -1)]

    def _job_id_chunks(self, batch_id: str) -> Iterator[list[str]]:
        key = self.keys.batch_jobs(batch_id)
        start = 0
        while chunk := self.redis.lrange(key, start, start + 10 * _CHUNK - 1):
            yield [_text(item) for item in chunk]
            start += len(chunk)

    def output(self, batch_id: str, *, errors: bool = False) -> Iterator[dict[str, Any]]:
        """The lines of the output file (successes) or the errors file, in submission order."""
        jobs_key, ids_key = self.keys.batch_jobs(batch_id), self.keys.batch_custom_ids(batch_id)
        start = 0
        while True:
            pipe = self.redis.pipeline(transaction=False)
            pipe.lrange(jobs_key, start, start + _CHUNK - 1)
            pipe.lrange(ids_key, start, start + _CHUNK - 1)
            job_ids, custom_ids = pipe.execute()
            if not job_ids:
                return
            ids = [_text(item) for item in job_ids]
            results = self.client.store.results(ids)
            for job_id, custom_id in zip(ids, custom_ids, strict=True):
                result = results.get(job_id)
                if result is not None and isinstance(result, FailedResult) == errors:
                    yield output_line(job_id, _text(custom_id), result)
            start += len(ids)

    def output_jsonl(self, batch_id: str, *, errors: bool = False) -> str:
        return "".join(json.dumps(line) + "\n" for line in self.output(batch_id, errors=errors))

    # --- wait and subscribe ------------------------------------------------------------

    def wait(
        self,
        batch_id: str,
        timeout: float,
        on_progress: Callable[[BatchRecord], None] | None = None,
    ) -> BatchRecord:
        """Until the batch ends or ``timeout`` passes; returns the record either way.

        Wakes on the batch's events channel and re-reads only the batch hash's counters, so
        waiting costs one round trip per wake-up, never one per job.
        """
        pubsub = self.redis.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
        pubsub.subscribe(self.keys.batch_channel(batch_id))
        deadline = time.monotonic() + timeout
        try:
            while True:
                record = self.get(batch_id, exact=False)
                if on_progress is not None:
                    on_progress(record)
                left = deadline - time.monotonic()
                if record.done or left <= 0:
                    return self.get(batch_id) if not record.done else record
                pubsub.get_message(timeout=min(left, 0.5))
                # Drain what else arrived: one re-read covers every event so far.
                while pubsub.get_message(timeout=0) is not None:
                    pass
        finally:
            pubsub.close()

    def finished_jobs(self, batch_id: str) -> dict[str, str]:
        """Job id -> final status, for every job of the batch that has ended."""
        ended: dict[str, str] = {}
        final = {JobStatus.SUCCEEDED.value, JobStatus.FAILED.value}
        for chunk in self._job_id_chunks(batch_id):
            pipe = self.redis.pipeline(transaction=False)
            for job_id in chunk:
                pipe.hget(self.keys.job(job_id), "status")
            for job_id, status in zip(chunk, pipe.execute(), strict=True):
                if status is not None and _text(status) in final:
                    ended[job_id] = _text(status)
        return ended

    def events(self, batch_id: str, timeout: float) -> Iterator[dict[str, Any]]:
        """Each job of the batch as it ends (those already ended first), then the batch record.

        Subscribes before reading what has ended, so no ending falls between the two; each job
        is reported once.
        """
        total = self.get(batch_id, exact=False).counts.total
        pubsub = self.redis.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
        pubsub.subscribe(self.keys.batch_channel(batch_id))
        deadline = time.monotonic() + timeout
        try:
            seen: set[str] = set()
            for job_id, status in self.finished_jobs(batch_id).items():
                seen.add(job_id)
                yield {"type": "job", "job_id": job_id, "status": status}
            while len(seen) < total and (left := deadline - time.monotonic()) > 0:
                message = pubsub.get_message(timeout=min(left, 1.0))
                if message is None or message.get("type") != "message":
                    continue
                event = json.loads(message["data"])
                if event.get("job_id") not in seen:
                    seen.add(event["job_id"])
                    yield {"type": "job", "job_id": event["job_id"], "status": event["status"]}
            yield {"type": "batch", "batch": self.get(batch_id).to_openai()}
        finally:
            pubsub.close()

    # --- webhooks --------------------------------------------------------------------

    def webhook_payload(self, subject: str) -> tuple[str, dict[str, Any]] | None:
        """What a webhook for ``job:<id>`` or ``batch:<id>`` sends, once that has ended."""
        kind, _, subject_id = subject.partition(":")
        if kind == "job":
            result = self.client.store.result(subject_id)
            if result is None:
                return None
            body = {
                "type": "job.completed",
                "job_id": subject_id,
                "status": result.status.value,
                "result": result.model_dump(mode="json"),
            }
            return "job.completed", body
        try:
            record = self.get(subject_id, exact=False)
        except UnknownBatch:
            return None
        if not record.done:
            return None
        event = f"batch.{record.status.value}"
        return event, {"type": event, "batch": record.to_openai()}

    # --- cancel ----------------------------------------------------------------------

    def cancel(self, batch_id: str, *, tenant: str | None = None) -> BatchRecord:
        """End every unfinished job of the batch as cancelled; finished ones keep their result."""
        self.get(batch_id, tenant=tenant, exact=False)
        key = self.keys.batch(batch_id)
        self.redis.hsetnx(key, "cancelling_at", str(int(time.time())))
        record = self.get(batch_id, exact=False)
        now = datetime.now(UTC)
        for chunk in self._job_id_chunks(batch_id):
            for start in range(0, len(chunk), _CHUNK):
                self._cancel_jobs(batch_id, record.tenant, chunk[start : start + _CHUNK], now)
        return self.get(batch_id)

    def _cancel_jobs(
        self, batch_id: str, tenant: str, job_ids: Sequence[str], now: datetime
    ) -> None:
        keys = [self.keys.batch(batch_id)]
        args: list[str | int] = [
            self.ttl_s,
            f"{now.timestamp():.6f}",
            self.keys.batch_channel(batch_id),
            self.keys.events_channel(),
        ]
        for job_id in job_ids:
            result = FailedResult(
                job_id=job_id,
                error_class=CANCELLED,
                error_message="the batch was cancelled before this job ended",
                attempts=[],
                batch_id=batch_id,
                tenant=tenant,
                finished_at=now,
            )
            event = json.dumps(
                {
                    "job_id": job_id,
                    "status": "failed",
                    "error_class": CANCELLED,
                    "at": now.isoformat(),
                    "batch_id": batch_id,
                }
            )
            keys += [self.keys.result(job_id), self.keys.job(job_id)]
            args += [result.model_dump_json(), event, self.keys.done_channel(job_id)]
        self._cancel(keys=keys, args=args)


def _raw(fields: Mapping[str, str], name: str) -> bytes | None:
    value = fields.get(name)
    return None if value is None else value.encode()


def _text(value: bytes | str | None) -> str:
    if value is None:
        return ""
    return value.decode() if isinstance(value, bytes) else value
