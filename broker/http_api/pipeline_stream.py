"""A streamed pipeline as Server-Sent Events: the output step's chunks as they come.

Read like a streamed job (``chat_stream``), round after round of the output step
(``broker/pipelines/streaming.py``); each event's ``id`` is ``<round>:<entry id>``, so
``Last-Event-ID`` resumes inside any round. While the earlier steps run nothing is streamed
but a keep-alive comment every 15 s (their progress is at ``/v1/pipelines/{id}/events``).

A later round after text was sent (a validator sent the answer back, an escalation) is told as
a failover restart is: ``event: cascade.reset`` to a native reader, which discards what it got
and reads on; to an OpenAI SDK reader, which cannot be told to discard, an error naming why,
with the pipeline id whose whole answer stays readable at ``/v1/pipelines/{id}``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from broker.http_api.chat_stream import SSE_HEADERS, read_stream_async
from broker.http_api.errors import ApiError
from broker.http_api.state import ApiState
from broker.job_streams import StreamEnd, StreamEntry, is_usage_chunk
from broker.pipelines.facade import Pipelines
from broker.pipelines.records import PipelineResult, step_job_id
from broker.pipelines.streaming import Cursor, parse_cursor, round_reset, step_after

__all__ = ["PipeStyle", "pipeline_sse", "cursor_of", "streamed_response"]

_KEEPALIVE = ": keep-alive\n\n"
_KEEPALIVE_S = 15.0
_LOOK_S = 0.25


@dataclass(frozen=True, slots=True)
class PipeStyle:
    """How a reader wants the pipeline's stream: OpenAI's or cascade's own (``native``)."""

    pipeline_id: str
    native: bool
    include_usage: bool = True
    # the model the OpenAI reader asked for ("pipeline:<name>"), written into each chunk
    model: str | None = None


def cursor_of(request: Request) -> Cursor:
    try:
        return parse_cursor(request.headers.get("last-event-id"))
    except ValueError as exc:
        raise ApiError(400, str(exc), param="Last-Event-ID") from exc


def _data(payload: Any, event_id: str | None = None, event: str | None = None) -> str:
    head = f"id: {event_id}\n" if event_id else ""
    head += f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(payload, separators=(',', ':'))}\n\n"


def _error(message: str, code: str, pipeline_id: str, kind: str) -> str:
    error = {"message": message, "type": kind, "code": code, "pipeline_id": pipeline_id}
    return _data({"error": error})


def _chunk(entry: StreamEntry, cursor: Cursor, style: PipeStyle) -> str:
    if is_usage_chunk(entry) and not style.include_usage:
        return ""
    data = dict(entry.data)
    if style.model is not None:
        data["model"] = style.model
    return _data(data, cursor.event_id(entry.id))


def _reset(data: dict[str, Any], event_id: str, style: PipeStyle) -> tuple[str, bool]:
    if style.native:
        return _data(data, event_id, "cascade.reset"), False
    reason = f"{data.get('error_class')}: {data.get('message')}"
    message = (
        f"the answer was superseded after part of it was sent ({reason}); the pipeline goes"
        f" on: its whole answer will be at /v1/pipelines/{style.pipeline_id}"
    )
    return _error(message, "stream_interrupted", style.pipeline_id, "cascade_pipeline_failed"), True


def _ending(result: PipelineResult | None, style: PipeStyle) -> str:
    if result is None:
        message = f"pipeline {style.pipeline_id} did not finish within the timeout; it goes on"
        return _error(message, "timeout", style.pipeline_id, "timeout")
    if result.status.value != "succeeded":
        message = result.error or result.status.value
        return _error(message, result.status.value, style.pipeline_id, "cascade_pipeline_failed")
    return "data: [DONE]\n\n"


async def _round(
    state: ApiState, job_id: str, cursor: Cursor, style: PipeStyle, deadline: float
) -> AsyncIterator[tuple[str, bool]]:
    """One round's job stream as (SSE text, stop)."""
    async for item in read_stream_async(state, job_id, cursor.after, deadline - time.monotonic()):
        if item is None:
            yield "", False
        elif isinstance(item, StreamEnd):
            return
        else:
            cursor = Cursor(cursor.round, item.id)
            if item.kind == "reset":
                text, stop = _reset(item.data, cursor.event_id(), style)
                yield text, stop
                if stop:
                    return
            else:
                yield _chunk(item, cursor, style), False


async def _events(
    state: ApiState, pipelines: Pipelines, cursor: Cursor, style: PipeStyle, timeout: float
) -> AsyncIterator[tuple[str, bool]]:
    """The pipeline's stream as (SSE text, stop); an empty text where nothing came a while."""
    pid, deadline = style.pipeline_id, time.monotonic() + timeout
    while time.monotonic() < deadline:
        record = await run_in_threadpool(pipelines.record, pid)
        if cursor.round is not None and not cursor.ended:
            job_id = step_job_id(pid, record.spec.output_step, cursor.round)
            async for text, stop in _round(state, job_id, cursor, style, deadline):
                yield text, stop
                if stop:
                    return
            cursor = Cursor(cursor.round, cursor.after, ended=True)
            continue
        following = step_after(record, cursor)
        if following is not None:
            if cursor.round is not None:
                text, stop = _reset(
                    round_reset(record, following.round or 0), following.event_id(), style
                )
                yield text, stop
                if stop:
                    return
            cursor = following
        elif record.result is not None:
            yield _ending(record.result, style), True
            return
        else:
            yield "", False
            await asyncio.sleep(_LOOK_S)
    yield _ending(None, style), True


async def pipeline_sse(
    state: ApiState, pipelines: Pipelines, cursor: Cursor, style: PipeStyle, timeout: float
) -> AsyncIterator[str]:
    """The SSE text, with a keep-alive comment after 15 quiet seconds."""
    sent = time.monotonic()
    async for text, stop in _events(state, pipelines, cursor, style, timeout):
        if text:
            sent = time.monotonic()
            yield text
        elif time.monotonic() - sent >= _KEEPALIVE_S:
            sent = time.monotonic()
            yield _KEEPALIVE
        if stop:
            return


def streamed_response(events: AsyncIterator[str], pipeline_id: str) -> Response:
    headers = {**SSE_HEADERS, "x-cascade-pipeline-id": pipeline_id}
    return StreamingResponse(events, media_type="text/event-stream", headers=headers)
