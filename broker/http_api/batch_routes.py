"""OpenAI's Batch API: create a batch from an uploaded JSONL file, read, list, cancel, and
follow one over Server-Sent Events.

Creating one checks everything first (the request's fields, the webhook URL, the file's size in
lines, each line's encoding and content), then writes: a refusal leaves nothing behind.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from broker.batches import BatchIncomplete, BatchInputError, UnknownBatch
from broker.http_api.errors import ApiError, not_found
from broker.http_api.file_purposes import batch_input_problem
from broker.http_api.files_routes import stored_content
from broker.http_api.inputs import json_body, request_timeout
from broker.http_api.state import state_of, tenant_of
from broker.http_api.streams import batch_events
from broker.http_api.wait_slots import released_after

__all__ = ["ROUTES", "jsonl_lines"]

# OpenAI's Batch API: metadata is at most 16 pairs, keys up to 64 characters, values up to 512
# (platform.openai.com/docs/api-reference/batch/create, "metadata").
_MAX_METADATA = 16
_MAX_METADATA_KEY = 64
_MAX_METADATA_VALUE = 512


def jsonl_lines(content: bytes, max_lines: int) -> Iterator[str]:
    """Each line of ``content``, decoded one at a time (the file is never held twice); 400 for
    a file of more than ``max_lines`` lines, or a line that is not UTF-8, naming the line."""
    count = content.count(b"\n") + (0 if content.endswith(b"\n") else 1)
    if count > max_lines:
        raise ApiError(
            400,
            f"the input file has {count} lines; a batch takes at most {max_lines}"
            " (CASCADE_BATCH_MAX_LINES)",
            param="input_file_id",
            code="too_many_lines",
        )
    start, number = 0, 0
    while start < len(content):
        end = content.find(b"\n", start)
        end = len(content) if end < 0 else end
        number += 1
        try:
            yield content[start:end].decode()
        except UnicodeDecodeError as exc:
            raise ApiError(
                400,
                f"line {number}: not valid UTF-8 (byte {exc.start} of the line)",
                param="input_file_id",
                code="invalid_batch_input",
            ) from exc
        start = end + 1


def _metadata(body: dict[str, Any]) -> dict[str, str]:
    metadata = body.get("metadata")
    if metadata is None:
        return {}
    if not isinstance(metadata, dict) or len(metadata) > _MAX_METADATA:
        raise ApiError(
            400, f"metadata must be an object of at most {_MAX_METADATA} pairs", param="metadata"
        )
    for key, value in metadata.items():
        if len(key) > _MAX_METADATA_KEY:
            raise ApiError(
                400, f"metadata: a key is over {_MAX_METADATA_KEY} characters", param="metadata"
            )
        if not isinstance(value, str) or len(value) > _MAX_METADATA_VALUE:
            raise ApiError(
                400,
                f"metadata.{key}: must be a string of at most {_MAX_METADATA_VALUE} characters",
                param=f"metadata.{key}",
            )
    return dict(metadata)


def _text_field(body: dict[str, Any], name: str, default: str | None = None) -> str:
    value = body.get(name, default)
    if not isinstance(value, str):
        raise ApiError(400, f"{name} is required and must be a string", param=name)
    return value


def _refused(exc: BatchInputError) -> ApiError:
    first = exc.errors[0]
    data = [
        {"code": e.code, "line": e.line, "message": e.message, "param": e.param} for e in exc.errors
    ]
    return ApiError(
        400,
        str(exc),
        code="invalid_batch_input",
        param=first.param,
        extra={"errors": {"object": "list", "data": data}},
    )


async def create_batch(request: Request) -> Response:
    """Create a batch from an uploaded JSONL file; every line is checked first.
    ---
    summary: Create a batch (OpenAI Batch API)
    description: >
      Every line is validated and planned before anything is enqueued; a bad line refuses the
      whole file with 400, naming its line number and field. `metadata.webhook_url` registers
      a signed webhook for the batch's end.
    requestBody:
      content:
        application/json:
          schema:
            type: object
            required: [input_file_id, endpoint, completion_window]
            properties:
              input_file_id: {type: string}
              endpoint: {type: string, enum: [/v1/chat/completions]}
              completion_window: {type: string}
              metadata: {type: object, additionalProperties: {type: string}}
    responses:
      200: {description: the batch object}
      400: {description: a line was refused; errors.data names each line and field}
      404: {description: no such file}
      503: {description: 'Redis failed part-way; the batch (batch_id) was cancelled'}
    """
    tenant = tenant_of(request)
    state = state_of(request)
    body = await json_body(request)
    file_id = _text_field(body, "input_file_id")
    endpoint = _text_field(body, "endpoint", "")
    completion_window = _text_field(body, "completion_window", "24h")
    metadata = _metadata(body)
    webhook_url = metadata.get("webhook_url")
    if webhook_url is not None:
        try:
            state.webhooks.check_url(webhook_url)
        except ValueError as exc:
            raise ApiError(400, str(exc), param="metadata.webhook_url") from exc
    content, purpose = await run_in_threadpool(stored_content, state, file_id, tenant)
    if (problem := batch_input_problem(file_id, purpose)) is not None:
        raise ApiError(400, problem, param="input_file_id")
    submit = functools.partial(
        state.batches.submit_lines,
        jsonl_lines(content, state.client.settings.batch_max_lines),
        tenant=tenant,
        endpoint=endpoint,
        completion_window=completion_window,
        metadata=metadata,
        input_file_id=file_id,
        webhook_url=webhook_url,
        cancel_if_incomplete=True,
    )
    try:
        record = await run_in_threadpool(submit)
    except BatchInputError as exc:
        raise _refused(exc) from exc
    except BatchIncomplete as exc:
        extra = {"batch_id": exc.batch_id}
        code = "batch_incomplete"
        raise ApiError(503, str(exc), type="server_error", code=code, extra=extra) from exc
    except ValueError as exc:
        raise ApiError(400, str(exc)) from exc
    return JSONResponse(record.to_openai())


async def _batch_for(request: Request, action: str = "get") -> dict[str, Any]:
    tenant = tenant_of(request)
    state = state_of(request)
    batch_id = request.path_params["batch_id"]
    method = state.batches.cancel if action == "cancel" else state.batches.get
    try:
        record = await run_in_threadpool(method, batch_id, tenant=tenant)
    except UnknownBatch as exc:
        raise not_found("batch", batch_id) from exc
    return record.to_openai()


async def retrieve_batch(request: Request) -> Response:
    """A batch with its counts and status.
    ---
    summary: Retrieve a batch
    responses: {200: {description: the batch object}, 404: {description: no such batch}}
    """
    return JSONResponse(await _batch_for(request))


async def cancel_batch(request: Request) -> Response:
    """Cancel a batch: every job not yet ended ends as cancelled.
    ---
    summary: Cancel a batch
    responses: {200: {description: the batch object}, 404: {description: no such batch}}
    """
    return JSONResponse(await _batch_for(request, "cancel"))


async def list_batches(request: Request) -> Response:
    """The tenant's batches, newest first.
    ---
    summary: List batches
    parameters:
      - {name: after, in: query, required: false, schema: {type: string}}
      - {name: limit, in: query, required: false, schema: {type: integer}}
    responses: {200: {description: a list of batch objects}}
    """
    tenant = tenant_of(request)
    state = state_of(request)
    try:
        limit = max(1, min(int(request.query_params.get("limit", "20")), 100))
    except ValueError as exc:
        raise ApiError(400, "limit must be an integer", param="limit") from exc
    after = request.query_params.get("after")
    records, more = await run_in_threadpool(
        functools.partial(state.batches.list_batches, tenant, after=after, limit=limit)
    )
    data = [record.to_openai() for record in records]
    return JSONResponse(
        {
            "object": "list",
            "data": data,
            "has_more": more,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
        }
    )


async def batch_stream(request: Request) -> Response:
    """Server-Sent Events: each job of the batch as it ends, then the batch.
    ---
    summary: Subscribe to a batch (text/event-stream)
    description: events `job` ({job_id, status}) for each job, already ended ones first, then
      one `batch` event with the batch object.
    parameters:
      - {name: timeout, in: query, required: false, schema: {type: number}}
    responses: {200: {description: an event stream}, 404: {description: no such batch}}
    """
    await _batch_for(request)
    state = state_of(request)
    timeout = request_timeout(request, state)
    slot = state.waits.take(tenant_of(request))
    events = batch_events(state, request.path_params["batch_id"], timeout)
    return StreamingResponse(
        released_after(events, slot),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache"},
    )


ROUTES = [
    Route("/v1/batches", create_batch, methods=["POST"]),
    Route("/v1/batches", list_batches, methods=["GET"]),
    Route("/v1/batches/{batch_id}", retrieve_batch, methods=["GET"]),
    Route("/v1/batches/{batch_id}/cancel", cancel_batch, methods=["POST"]),
    Route("/v1/batches/{batch_id}/events", batch_stream, methods=["GET"]),
]
