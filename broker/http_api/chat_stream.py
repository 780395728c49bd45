"""A streamed job as Server-Sent Events: OpenAI's ``chat.completion.chunk`` lines read from the
job's Redis stream with XREAD BLOCK on redis.asyncio (no thread held while waiting), each
with its stream entry id as the SSE ``id`` (``Last-Event-ID`` resumes after it), then
``data: [DONE]``, or an error object where the job failed or the wait ran out.

Two audiences, one difference: a ``reset`` entry (an attempt failed after part of its answer
was appended; the next attempt's answer follows whole) is told to a native reader as
``event: cascade.reset``, to discard what it got and read on; an OpenAI SDK reader cannot be
told to discard, so it gets an error naming the original fault and the job id, whose whole
answer stays readable at ``/v1/jobs/{id}``.

A ``stream: true`` caller that disconnects cancels its job unless it asked otherwise
(``on_disconnect.py``); a reader of ``/v1/jobs/{id}/stream`` never does.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from broker.client import SubmitError
from broker.http_api.errors import ApiError
from broker.http_api.on_disconnect import (
    ON_DISCONNECT_HEADER,
    cancel_on_disconnect,
    cancels_on_disconnect,
)
from broker.http_api.openai_compat import CompatError, job_inputs, priority_of
from broker.http_api.state import RESULT, ApiState, state_of, tenant_of
from broker.http_api.wait_bound import ON_TIMEOUT_HEADER, job_deadline
from broker.http_api.wait_slots import released_after
from broker.job_streams import (
    ReadPace,
    StreamEnd,
    StreamEntry,
    decode_entries,
    is_usage_chunk,
)
from broker.jobs import FailedResult

__all__ = [
    "SSE_HEADERS",
    "SseStyle",
    "job_sse",
    "read_stream_async",
    "render",
    "stream_chat_completion",
]

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}

_KEEPALIVE = ": keep-alive\n\n"
_KEEPALIVE_S = 15.0


@dataclass(frozen=True, slots=True)
class SseStyle:
    """How a reader wants the stream: OpenAI's (``/v1/chat/completions``) or cascade's own."""

    job_id: str
    native: bool
    include_usage: bool = True


def _data(payload: Any, entry_id: str | None = None, event: str | None = None) -> str:
    head = f"id: {entry_id}\n" if entry_id else ""
    head += f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(payload, separators=(',', ':'))}\n\n"


def _error(message: str, code: str, job_id: str, kind: str = "cascade_job_failed") -> str:
    return _data({"error": {"message": message, "type": kind, "code": code, "job_id": job_id}})


def render(item: StreamEntry | StreamEnd, style: SseStyle) -> tuple[str, bool]:
    """The SSE text for one entry or the end, and whether the stream stops after it."""
    if isinstance(item, StreamEnd):
        return _ending(item, style), True
    if item.kind == "chunk":
        if is_usage_chunk(item) and not style.include_usage:
            return "", False
        return _data(item.data, item.id), False
    if style.native:
        return _data(item.data, item.id, "cascade.reset"), False
    reason = f"{item.data.get('error_class')}: {item.data.get('message')}"
    message = (
        f"the answer broke off after part of it was sent ({reason}); cascade goes on with"
        f" the job on its route: its whole answer will be at /v1/jobs/{style.job_id}"
    )
    return _error(message, "stream_interrupted", style.job_id), True


def _ending(end: StreamEnd, style: SseStyle) -> str:
    if end.result is None:
        job_id = style.job_id
        message = f"job {job_id} did not finish within the timeout; see /v1/jobs/{job_id}"
        return _error(message, "timeout", job_id, "timeout")
    if isinstance(end.result, FailedResult):
        return _error(end.result.error_message, end.result.error_class, style.job_id)
    return "data: [DONE]\n\n"


async def read_stream_async(
    state: ApiState, job_id: str, after: str, timeout: float
) -> AsyncIterator[StreamEntry | StreamEnd | None]:
    """The job's entries after ``after``, then its end; None while nothing came for a second
    (for a keep-alive)."""
    redis, key = state.aredis, state.keys.job_stream(job_id)
    deadline, pace = time.monotonic() + timeout, ReadPace()
    while (left := deadline - time.monotonic()) > 0:
        block = max(1, min(int(left * 1000), pace.block_ms))
        entries = decode_entries(await redis.xread({key: after}, count=200, block=block))
        for entry in entries:
            after = entry.id
            yield entry
        if not pace.look_now(entries):
            continue
        raw = await redis.get(state.keys.result(job_id))
        if raw is not None:
            for entry in decode_entries(await redis.xread({key: after}, count=10_000)):
                yield entry
            yield StreamEnd(RESULT.validate_json(raw))
            return
        if not entries:
            yield None
    yield StreamEnd(None)


async def job_sse(
    state: ApiState, style: SseStyle, after: str, timeout: float
) -> AsyncIterator[str]:
    """The job's stream as SSE text, ending with [DONE] or an error object; a comment line
    after a quiet while keeps proxies from closing it."""
    sent = time.monotonic()
    async for item in read_stream_async(state, style.job_id, after, timeout):
        if item is None:
            if time.monotonic() - sent >= _KEEPALIVE_S:
                sent = time.monotonic()
                yield _KEEPALIVE
            continue
        text, stop = render(item, style)
        if text:
            sent = time.monotonic()
            yield text
        if stop:
            return


def _include_usage(body: dict[str, Any]) -> bool:
    options = body.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise ApiError(400, "stream_options must be an object", param="stream_options")
    return bool((options or {}).get("include_usage"))


async def stream_chat_completion(
    request: Request, body: dict[str, Any], timeout: float
) -> Response:
    """``/v1/chat/completions`` with ``stream: true``: submit a streamed job, answer its chunks."""
    tenant, state = tenant_of(request), state_of(request)
    include_usage = _include_usage(body)
    try:
        fields, needs = job_inputs(body, state.client.catalog)
        priority = priority_of(request.headers.get("x-cascade-priority"), fields)
        cancel = cancels_on_disconnect(request.headers.get(ON_DISCONNECT_HEADER), fields)
    except CompatError as exc:
        raise ApiError(exc.status, exc.message, param=exc.param, code=exc.code) from exc
    # As a plain completion's: the job starts no call after its reader's wait ends.
    deadline = job_deadline(datetime.now(UTC), timeout, request.headers.get(ON_TIMEOUT_HEADER))
    # Taken before the submit: over the tenant's bound, the 429 leaves no job behind.
    slot = state.waits.take(tenant)
    try:
        job = state.client.build_job(
            fields, needs=needs, tenant=tenant, stream=True, priority=priority, deadline=deadline
        )
        job_id = await run_in_threadpool(state.client.submit, job)
    except SubmitError as exc:
        slot.release()
        raise ApiError(400, str(exc)) from exc
    except BaseException:
        slot.release()
        raise
    style = SseStyle(job_id, native=False, include_usage=include_usage)
    events = job_sse(state, style, "0-0", timeout)
    if cancel:
        events = cancel_on_disconnect(events, state, job_id, tenant)
    events = released_after(events, slot)
    headers = {**SSE_HEADERS, "x-cascade-job-id": job_id}
    return StreamingResponse(events, media_type="text/event-stream", headers=headers)
