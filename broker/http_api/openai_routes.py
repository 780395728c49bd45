"""OpenAI-compatible routes: chat completions (enqueue and wait), Files and Batches.

``model`` names a cascade tier or a catalog model (see ``broker.batches.needs_for_model``);
an unknown one is a 404 ``model_not_found``, as OpenAI answers for a model it lacks.
``stream: true`` is refused with 400: cascade answers once the job has ended.
"""

from __future__ import annotations

import functools
import json
import time
import uuid
from typing import Any, cast

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from broker.batches import BatchIncomplete, BatchInputError, UnknownBatch, needs_for_model
from broker.client import SubmitError
from broker.http_api.errors import ApiError, not_found
from broker.http_api.state import ApiState, state_of, tenant_of
from broker.http_api.streams import batch_events, wait_result
from broker.jobs import FailedResult, Priority

__all__ = ["ROUTES", "failed_status", "json_body", "timeout_of"]

# The HTTP status a failed job is answered with, by its error class; anything else is 502.
_FAILED_STATUS = {
    "InvalidRequest": 400,
    "ContextTooLong": 400,
    "Cancelled": 409,
    "DeadlineExceeded": 504,
}
_OUTPUT_SUFFIXES = {"-output": False, "-errors": True}


def failed_status(result: FailedResult) -> int:
    return _FAILED_STATUS.get(result.error_class, 502)


async def json_body(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except json.JSONDecodeError as exc:
        raise ApiError(400, f"the body is not valid JSON: {exc.msg}") from exc
    if not isinstance(body, dict):
        raise ApiError(400, "the body must be a JSON object")
    return body


def priority_of(request: Request, fields: dict[str, Any]) -> str | None:
    """The job's priority: the ``x-cascade-priority`` header, else ``metadata.priority``, which
    is cascade's and so taken out of the metadata the provider would see."""
    metadata = fields.get("metadata")
    from_body = None
    if isinstance(metadata, dict) and "priority" in metadata:
        rest = {key: value for key, value in metadata.items() if key != "priority"}
        from_body = metadata["priority"]
        if rest:
            fields["metadata"] = rest
        else:
            del fields["metadata"]
    header = request.headers.get("x-cascade-priority")
    chosen, param = (header, "x-cascade-priority") if header else (from_body, "metadata.priority")
    if chosen is None:
        return None
    if chosen not in {item.value for item in Priority}:
        allowed = ", ".join(item.value for item in Priority)
        raise ApiError(
            400, f"{param}: {chosen!r} is not a priority; use one of {allowed}", param=param
        )
    return str(chosen)


def timeout_of(request: Request, state: ApiState, name: str = "timeout") -> float:
    raw = request.query_params.get(name) or request.headers.get("x-cascade-timeout")
    try:
        value = float(raw) if raw else state.default_timeout_s
    except ValueError as exc:
        raise ApiError(400, f"{name} must be a number of seconds", param=name) from exc
    return max(0.0, min(value, state.max_timeout_s))


# --- chat completions -------------------------------------------------------------------


async def chat_completions(request: Request) -> Response:
    """Enqueue a chat completion and wait for its result.
    ---
    summary: Create a chat completion (enqueue, then wait up to the timeout)
    description: >
      OpenAI's chat-completions body; `model` names a cascade tier or catalog model. Waits up
      to `timeout` seconds (query or `X-Cascade-Timeout`, default 60); past it, 504 with the
      job id to poll at /v1/jobs/{id}. `stream` is not supported.
    parameters:
      - {name: timeout, in: query, required: false, schema: {type: number}}
    requestBody:
      content: {application/json: {schema: {$ref: '#/components/schemas/ChatCompletionRequest'}}}
    responses:
      200: {description: a chat.completion object with cascade's fields (job_id, attempts, ...)}
      400: {description: invalid request}
      404: {description: unknown model}
      504: {description: not finished within the timeout; the job goes on}
    """
    tenant = tenant_of(request)
    state = state_of(request)
    body = await json_body(request)
    if body.get("stream"):
        raise ApiError(
            400,
            "stream is not supported: cascade answers once the job has ended",
            param="stream",
            code="unsupported_parameter",
        )
    try:
        needs = needs_for_model(body.get("model"), state.client.catalog)
    except ValueError as exc:
        raise ApiError(404, str(exc), param="model", code="model_not_found") from exc
    fields = {key: value for key, value in body.items() if key not in ("model", "stream")}
    priority = priority_of(request, fields)
    try:
        job = state.client.build_job(fields, needs=needs, tenant=tenant, priority=priority)
        job_id = await run_in_threadpool(state.client.submit, job)
    except SubmitError as exc:
        raise ApiError(400, str(exc)) from exc
    result = await wait_result(state, job_id, timeout_of(request, state))
    headers = {"X-Cascade-Job-Id": job_id}
    if result is None:
        raise ApiError(
            504,
            f"job {job_id} did not finish within the timeout; it goes on",
            type="timeout",
            code="timeout",
            extra={"job_id": job_id},
            headers=headers,
        )
    if isinstance(result, FailedResult):
        raise ApiError(
            failed_status(result),
            result.error_message,
            type="cascade_job_failed",
            code=result.error_class,
            extra={"job_id": job_id},
            headers=headers,
        )
    return JSONResponse(result.model_dump(mode="json"), headers=headers)


# --- files ------------------------------------------------------------------------------


def _file_object(file_id: str, fields: dict[str, str]) -> dict[str, Any]:
    return {
        "id": file_id,
        "object": "file",
        "bytes": int(fields["bytes"]),
        "created_at": int(fields["created_at"]),
        "filename": fields["filename"],
        "purpose": fields["purpose"],
        "status": "processed",
        "expires_at": None,
        "status_details": None,
    }


_FILE_FIELDS = ("tenant", "filename", "purpose", "bytes", "created_at")


def _stored_file(
    state: ApiState, file_id: str, tenant: str, *, content: bool = False
) -> dict[str, str]:
    names = [*_FILE_FIELDS, "content"] if content else list(_FILE_FIELDS)
    raw = cast(list[bytes | None], state.client.redis.hmget(state.keys.file(file_id), names))
    fields = {
        name: value.decode(errors="replace")
        for name, value in zip(names, raw, strict=True)
        if value is not None
    }
    if fields.get("tenant") != tenant:
        raise not_found("file", file_id)
    return fields


def _batch_output(state: ApiState, file_id: str, tenant: str) -> tuple[str, str] | None:
    """(file name, content) when ``file_id`` names a batch's output or errors file."""
    for suffix, errors in _OUTPUT_SUFFIXES.items():
        if file_id.startswith("batch_") and file_id.endswith(suffix):
            batch_id = file_id.removesuffix(suffix)
            try:
                state.batches.get(batch_id, tenant=tenant, exact=False)
            except UnknownBatch as exc:
                raise not_found("file", file_id) from exc
            return f"{file_id}.jsonl", state.batches.output_jsonl(batch_id, errors=errors)
    return None


async def create_file(request: Request) -> Response:
    """Upload a file (multipart: `file`, `purpose`).
    ---
    summary: Upload a file, e.g. a batch input in JSONL
    requestBody:
      content:
        multipart/form-data:
          schema:
            type: object
            required: [file, purpose]
            properties: {file: {type: string, format: binary}, purpose: {type: string}}
    responses:
      200: {description: the file object}
    """
    tenant = tenant_of(request)
    state = state_of(request)
    async with request.form(max_part_size=64 * 1024 * 1024) as form:
        upload, purpose = form.get("file"), form.get("purpose")
        if not isinstance(upload, UploadFile):
            raise ApiError(400, "a 'file' part is required", param="file")
        if not isinstance(purpose, str) or not purpose:
            raise ApiError(400, "a 'purpose' field is required", param="purpose")
        content = await upload.read()
        filename = upload.filename or "upload.jsonl"
    file_id = f"file-{uuid.uuid4().hex}"
    fields = {
        "tenant": tenant,
        "filename": filename,
        "purpose": purpose,
        "bytes": str(len(content)),
        "created_at": str(int(time.time())),
    }

    def store() -> None:
        pipe = state.client.redis.pipeline(transaction=True)
        pipe.hset(state.keys.file(file_id), mapping={**fields, "content": content})  # type: ignore[dict-item]
        pipe.expire(state.keys.file(file_id), state.client.settings.result_ttl_s)
        pipe.execute()

    await run_in_threadpool(store)
    return JSONResponse(_file_object(file_id, fields))


async def retrieve_file(request: Request) -> Response:
    """A file's metadata.
    ---
    summary: Retrieve a file
    responses: {200: {description: the file object}, 404: {description: no such file}}
    """
    tenant = tenant_of(request)
    state = state_of(request)
    file_id = request.path_params["file_id"]
    output = await run_in_threadpool(_batch_output, state, file_id, tenant)
    if output is not None:
        name, text = output
        return JSONResponse(
            _file_object(
                file_id,
                {
                    "bytes": str(len(text.encode())),
                    "created_at": str(int(time.time())),
                    "filename": name,
                    "purpose": "batch_output",
                },
            )
        )
    fields = await run_in_threadpool(_stored_file, state, file_id, tenant)
    return JSONResponse(_file_object(file_id, fields))


async def file_content(request: Request) -> Response:
    """A file's content; a batch's output and errors files are built from its results.
    ---
    summary: Retrieve file content
    responses: {200: {description: the content}, 404: {description: no such file}}
    """
    tenant = tenant_of(request)
    state = state_of(request)
    file_id = request.path_params["file_id"]
    output = await run_in_threadpool(_batch_output, state, file_id, tenant)
    if output is not None:
        return Response(output[1], media_type="application/jsonl")
    fields = await run_in_threadpool(
        functools.partial(_stored_file, state, file_id, tenant, content=True)
    )
    return Response(fields["content"], media_type="application/octet-stream")


async def delete_file(request: Request) -> Response:
    """Delete an uploaded file.
    ---
    summary: Delete a file
    responses: {200: {description: deleted}, 404: {description: no such file}}
    """
    tenant = tenant_of(request)
    state = state_of(request)
    file_id = request.path_params["file_id"]
    await run_in_threadpool(_stored_file, state, file_id, tenant)
    await run_in_threadpool(state.client.redis.delete, state.keys.file(file_id))
    return JSONResponse({"id": file_id, "object": "file", "deleted": True})


# --- batches ----------------------------------------------------------------------------


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
      503: {description: 'Redis failed part-way; the batch (batch_id) was cancelled'}
    """
    tenant = tenant_of(request)
    state = state_of(request)
    body = await json_body(request)
    file_id = body.get("input_file_id")
    if not isinstance(file_id, str):
        raise ApiError(400, "input_file_id is required", param="input_file_id")
    fields = await run_in_threadpool(
        functools.partial(_stored_file, state, file_id, tenant, content=True)
    )
    metadata = body.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise ApiError(400, "metadata must be an object of strings", param="metadata")
    submit = functools.partial(
        state.batches.submit_lines,
        fields["content"].splitlines(),
        tenant=tenant,
        endpoint=str(body.get("endpoint", "")),
        completion_window=str(body.get("completion_window", "24h")),
        metadata={str(k): str(v) for k, v in metadata.items()},
        input_file_id=file_id,
        webhook_url=metadata.get("webhook_url"),
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
    timeout = timeout_of(request, state)
    events = batch_events(state, request.path_params["batch_id"], timeout)
    return StreamingResponse(
        events, media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
    )


ROUTES = [
    Route("/v1/chat/completions", chat_completions, methods=["POST"]),
    Route("/v1/files", create_file, methods=["POST"]),
    Route("/v1/files/{file_id}", retrieve_file, methods=["GET"]),
    Route("/v1/files/{file_id}", delete_file, methods=["DELETE"]),
    Route("/v1/files/{file_id}/content", file_content, methods=["GET"]),
    Route("/v1/batches", create_batch, methods=["POST"]),
    Route("/v1/batches", list_batches, methods=["GET"]),
    Route("/v1/batches/{batch_id}", retrieve_batch, methods=["GET"]),
    Route("/v1/batches/{batch_id}/cancel", cancel_batch, methods=["POST"]),
    Route("/v1/batches/{batch_id}/events", batch_stream, methods=["GET"]),
]
