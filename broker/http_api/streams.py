"""Waiting without a thread, and Server-Sent Events, on Redis pub/sub (redis.asyncio).

Each wait subscribes first and reads second, so an ending that happens in between is never
missed; a periodic re-read covers a dropped subscription.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

from starlette.concurrency import run_in_threadpool

from broker.http_api.state import RESULT, ApiState
from broker.jobs import CompletionResult, FailedResult

__all__ = ["batch_events", "job_events", "sse", "wait_result"]

_KEEPALIVE_S = 15.0


def sse(event: str, data: Any) -> str:
    """One Server-Sent Events message (https://html.spec.whatwg.org/multipage/server-sent-events.html)."""
    return f"event: {event}\ndata: {json.dumps(data)}\n\n"


async def wait_result(
    state: ApiState, job_id: str, timeout: float
) -> CompletionResult | FailedResult | None:
    """The job's final result, waiting up to ``timeout`` seconds for it; None if it is late."""
    pubsub = state.aredis.pubsub()
    await pubsub.subscribe(state.keys.done_channel(job_id))
    deadline = time.monotonic() + timeout
    try:
        while True:
            raw = await state.aredis.get(state.keys.result(job_id))
            if raw is not None:
                return RESULT.validate_json(raw)
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            await pubsub.get_message(ignore_subscribe_messages=True, timeout=min(left, 1.0))
    finally:
        await pubsub.aclose()  # type: ignore[no-untyped-call]


async def job_events(state: ApiState, job_id: str, timeout: float) -> AsyncIterator[str]:
    """The job's status now, then its result when it ends (or a timeout event)."""
    status = await state.aredis.hget(state.keys.job(job_id), "status")
    text = status.decode() if isinstance(status, bytes) else (status or "")
    yield sse("status", {"job_id": job_id, "status": text})
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        result = await wait_result(state, job_id, min(left, _KEEPALIVE_S))
        if result is not None:
            yield sse("result", result.model_dump(mode="json"))
            return
        yield ": keep-alive\n\n"
    yield sse("timeout", {"job_id": job_id})


async def batch_events(state: ApiState, batch_id: str, timeout: float) -> AsyncIterator[str]:
    """Each job of the batch as it ends (those already ended first), then the batch itself."""
    batches = state.batches
    record = await run_in_threadpool(batches.get, batch_id, exact=False)
    pubsub = state.aredis.pubsub()
    await pubsub.subscribe(state.keys.batch_channel(batch_id))
    try:
        ended = await run_in_threadpool(batches.finished_jobs, batch_id)
        seen = set(ended)
        for job_id, status in ended.items():
            yield sse("job", {"job_id": job_id, "status": status})
        deadline = time.monotonic() + timeout
        while len(seen) < record.counts.total and (left := deadline - time.monotonic()) > 0:
            message = await pubsub.get_message(
                ignore_subscribe_messages=True, timeout=min(left, _KEEPALIVE_S)
            )
            if message is None:
                yield ": keep-alive\n\n"
                continue
            event = json.loads(message["data"])
            if event.get("job_id") in seen:
                continue
            seen.add(event["job_id"])
            yield sse("job", {"job_id": event["job_id"], "status": event["status"]})
        final = await run_in_threadpool(batches.get, batch_id)
        yield sse("batch", final.to_openai())
    finally:
        await pubsub.aclose()  # type: ignore[no-untyped-call]
