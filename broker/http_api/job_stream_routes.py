"""``GET /v1/jobs/{id}/stream``: a streamed job's chunks as SSE, resumable with
``Last-Event-ID`` (``stream: true`` on ``/v1/chat/completions`` is ``chat_stream``'s)."""

from __future__ import annotations

import json
import re

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from broker.http_api.chat_stream import SSE_HEADERS, SseStyle, job_sse
from broker.http_api.errors import ApiError, not_found
from broker.http_api.inputs import request_timeout
from broker.http_api.state import ApiState, state_of, tenant_of
from broker.http_api.wait_slots import released_after
from broker.ids import is_valid_id

__all__ = ["ROUTES"]

_ENTRY_ID = re.compile(r"^\d{1,20}-\d{1,20}$")


def _text(value: bytes | str) -> str:
    return value if isinstance(value, str) else value.decode()


async def _streamed_job(request: Request) -> tuple[ApiState, str]:
    """The state and the job id of the path, when the job is the caller's (404 otherwise) and
    was submitted to stream (409 otherwise: it has no stream to read)."""
    tenant, state = tenant_of(request), state_of(request)
    job_id = request.path_params["job_id"]
    found = (
        await state.aredis.hmget(state.keys.job(job_id), ["tenant", "job"])
        if is_valid_id(job_id)
        else [None, None]
    )
    owner, job = found
    if owner is None or job is None or _text(owner) != tenant:
        raise not_found("job", job_id)
    if not json.loads(job).get("envelope", {}).get("stream"):
        raise ApiError(
            409,
            f"job {job_id} was not submitted to stream (envelope.stream is false): read its"
            f" result at /v1/jobs/{job_id}",
            param="envelope.stream",
            code="not_streamed",
        )
    return state, job_id


async def job_chunks(request: Request) -> Response:
    """Server-Sent Events: a streamed job's chat.completion.chunk lines, then [DONE].
    ---
    summary: Stream a job's answer (text/event-stream), resumable with Last-Event-ID
    description: >
      Each chunk's SSE id is its Redis stream entry id; send the last one you got as
      `Last-Event-ID` (header, or `last_event_id` in the query) to read on after it. An
      `event: cascade.reset` says the attempt so far failed: discard what you got, the next
      attempt's answer follows whole. Ends with `data: [DONE]`, or a data line holding an
      `error` object (the job failed, or the timeout passed).
    parameters:
      - {name: timeout, in: query, required: false, schema: {type: number}}
      - {name: last_event_id, in: query, required: false, schema: {type: string}}
    responses:
      200: {description: an event stream}
      400: {description: a Last-Event-ID that is no stream entry id}
      404: {description: no such job}
      409: {description: the job was not submitted to stream}
    """
    state, job_id = await _streamed_job(request)
    after = request.headers.get("last-event-id") or request.query_params.get("last_event_id")
    if after and not _ENTRY_ID.match(after):
        raise ApiError(
            400,
            f"Last-Event-ID {after!r} is not a stream entry id (like 1733059200000-0)",
            param="Last-Event-ID",
        )
    style = SseStyle(job_id, native=True)
    timeout = request_timeout(request, state)
    slot = state.waits.take(tenant_of(request))
    events = released_after(job_sse(state, style, after or "0-0", timeout), slot)
    return StreamingResponse(events, media_type="text/event-stream", headers=SSE_HEADERS)


ROUTES = [Route("/v1/jobs/{job_id}/stream", job_chunks, methods=["GET"])]
