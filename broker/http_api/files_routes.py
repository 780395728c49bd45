"""OpenAI's Files API: upload (streamed, with a hard cap), retrieve, download, delete.

An upload is read part by part into a spooled file and refused with 413 the moment the body
passes ``CASCADE_API_MAX_UPLOAD_BYTES``; the rest is never read. A batch's output and errors
files are not stored: they are built from its results when asked for.
"""

from __future__ import annotations

import functools
import time
import uuid
from typing import Any, cast

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from broker.batches import UnknownBatch
from broker.http_api.errors import ApiError, not_found
from broker.http_api.file_index import FileIndex
from broker.http_api.file_purposes import upload_purpose
from broker.http_api.inputs import bounded_stream, too_large
from broker.http_api.state import ApiState, state_of, tenant_of

__all__ = ["ROUTES", "stored_content"]

_OUTPUT_SUFFIXES = {"-output": False, "-errors": True}
_FILE_FIELDS = ("tenant", "filename", "purpose", "bytes", "created_at")
# Room for the multipart boundaries, part headers and the purpose field around the file.
_MULTIPART_OVERHEAD = 64 * 1024
_UPLOAD_SETTING = "CASCADE_API_MAX_UPLOAD_BYTES"


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


def _stored_file(state: ApiState, file_id: str, tenant: str) -> dict[str, str]:
    names = list(_FILE_FIELDS)
    raw = cast(list[bytes | None], state.client.redis.hmget(state.keys.file(file_id), names))
    fields = {
        name: value.decode(errors="replace")
        for name, value in zip(names, raw, strict=True)
        if value is not None
    }
    if fields.get("tenant") != tenant:
        raise not_found("file", file_id)
    return fields


def stored_content(state: ApiState, file_id: str, tenant: str) -> tuple[bytes, str | None]:
    """An uploaded file's bytes as stored (one copy, not decoded) and its purpose; 404 unless
    the tenant's."""
    owner, purpose, content = cast(
        list[bytes | None],
        state.client.redis.hmget(state.keys.file(file_id), ["tenant", "purpose", "content"]),
    )
    if owner is None or owner.decode(errors="replace") != tenant or content is None:
        raise not_found("file", file_id)
    return content, None if purpose is None else purpose.decode(errors="replace")


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


async def _upload(request: Request, limit: int) -> tuple[UploadFile, str]:
    """The ``file`` part and the ``purpose`` field of a multipart body no larger than allowed."""
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise ApiError(400, "the body must be multipart/form-data with 'file' and 'purpose'")
    stream = bounded_stream(request, limit + _MULTIPART_OVERHEAD, "the upload", _UPLOAD_SETTING)
    try:
        form = await MultiPartParser(request.headers, stream, max_files=1, max_fields=4).parse()
    except MultiPartException as exc:
        raise ApiError(400, f"the multipart body is malformed: {exc.message}") from exc
    upload, purpose = form.get("file"), form.get("purpose")
    if not isinstance(upload, UploadFile):
        await form.close()
        raise ApiError(400, "a 'file' part is required", param="file")
    try:
        purpose = upload_purpose(purpose)
    except ValueError as exc:
        await form.close()
        raise ApiError(400, str(exc), param="purpose") from exc
    if (upload.size or 0) > limit:
        await form.close()
        raise too_large("the file", limit, _UPLOAD_SETTING)
    return upload, purpose


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
      400: {description: no file part or no purpose}
      413: {description: the file is over CASCADE_API_MAX_UPLOAD_BYTES}
    """
    tenant = tenant_of(request)
    state = state_of(request)
    upload, purpose = await _upload(request, state.client.settings.api_max_upload_bytes)
    try:
        content = await upload.read()
        filename = upload.filename or "upload.jsonl"
    finally:
        await upload.close()
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
        FileIndex(state.client.redis, state.keys, state.client.settings.result_ttl_s).add(
            pipe, tenant, file_id, time.time()
        )
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
    content, _ = await run_in_threadpool(functools.partial(stored_content, state, file_id, tenant))
    return Response(content, media_type="application/octet-stream")


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
    await run_in_threadpool(FileIndex(state.client.redis, state.keys, 0).remove, tenant, file_id)
    return JSONResponse({"id": file_id, "object": "file", "deleted": True})


ROUTES = [
    Route("/v1/files", create_file, methods=["POST"]),
    Route("/v1/files/{file_id}", retrieve_file, methods=["GET"]),
    Route("/v1/files/{file_id}", delete_file, methods=["DELETE"]),
    Route("/v1/files/{file_id}/content", file_content, methods=["GET"]),
]
