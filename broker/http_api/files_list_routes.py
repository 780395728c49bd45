"""``GET /v1/files``: OpenAI's files.list over a tenant's uploads (``file_index.FileIndex``)."""

from __future__ import annotations

import functools
from typing import Literal, cast

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from broker.http_api.errors import ApiError
from broker.http_api.file_index import FileIndex
from broker.http_api.file_purposes import UPLOAD_PURPOSES
from broker.http_api.files_routes import _file_object
from broker.http_api.state import ApiState, state_of, tenant_of

__all__ = ["ROUTES", "file_index"]

# OpenAI's files.list takes up to 10,000 a page; cascade pages by 100 at most, like batches.
_MAX_LIMIT = 100


def file_index(state: ApiState) -> FileIndex:
    client = state.client
    return FileIndex(client.redis, client.keys, client.settings.result_ttl_s)


def _limit(request: Request) -> int:
    try:
        return max(1, min(int(request.query_params.get("limit", "20")), _MAX_LIMIT))
    except ValueError as exc:
        raise ApiError(400, "limit must be an integer", param="limit") from exc


def _order(request: Request) -> Literal["asc", "desc"]:
    order = request.query_params.get("order", "desc")
    if order not in ("asc", "desc"):
        raise ApiError(400, f"order must be 'asc' or 'desc', not {order!r}", param="order")
    return cast(Literal["asc", "desc"], order)


def _purpose(request: Request) -> str | None:
    purpose = request.query_params.get("purpose")
    if purpose is not None and purpose not in UPLOAD_PURPOSES:
        choices = ", ".join(UPLOAD_PURPOSES)
        raise ApiError(400, f"purpose {purpose!r} is not one of {choices}", param="purpose")
    return purpose


async def list_files(request: Request) -> Response:
    """The tenant's uploaded files, newest first unless `order=asc`.
    ---
    summary: List files
    parameters:
      - {name: after, in: query, required: false, schema: {type: string}}
      - {name: limit, in: query, required: false, schema: {type: integer}}
      - {name: order, in: query, required: false, schema: {type: string, enum: [asc, desc]}}
      - {name: purpose, in: query, required: false, schema: {type: string}}
    responses: {200: {description: a list of file objects}}
    """
    tenant = tenant_of(request)
    state = state_of(request)
    read = functools.partial(
        file_index(state).page,
        tenant,
        after=request.query_params.get("after"),
        limit=_limit(request),
        order=_order(request),
        purpose=_purpose(request),
    )
    page = await run_in_threadpool(read)
    data = [_file_object(file_id, fields) for file_id, fields in page.fields]
    return JSONResponse(
        {
            "object": "list",
            "data": data,
            "has_more": page.has_more,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
        }
    )


ROUTES = [Route("/v1/files", list_files, methods=["GET"])]
