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

from broker.done_waits import done_channels, ended_job, subscribe_chunks
from broker.http_api.state import RESULT, ApiState
from broker.jobs import CompletionResult, FailedResult

__all__ = ["batch_events", "job_events", "sse", "wait_many", "wait_result"]

_KEEPALIVE_S = 15.0
# How often a wait for many jobs re-reads them all, in case an event was lost.
_SWEEP_S = 1.0


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
        await pubsub.aclose()


async def _results(
    state: ApiState, job_ids: list[str]
) -> dict[str, CompletionResult | FailedResult]:
    if not job_ids:
        return {}
    raw = await state.aredis.mget([state.keys.result(job_id) for job_id in job_ids])
    return {
        job_id: RESULT.validate_json(item)
        for job_id, item in zip(job_ids, raw, strict=True)
        if item is not None
    }


async def wait_many(
    state: ApiState, job_ids: list[str], timeout: float
) -> dict[str, CompletionResult | FailedResult]:
    """The results of the jobs among ``job_ids`` that end within ``timeout`` seconds.

    Subscribes to the jobs' own done channels (``broker/done_waits.py``), then reads what
    already ended, then reads only the jobs whose channels announce an end, with a sweep each
    second for an end lost with a connection.
    """
    pending = set(job_ids)
    pubsub = state.aredis.pubsub()
    channels = done_channels(state.keys, pending)
    deadline = time.monotonic() + timeout
    try:
        for chunk in subscribe_chunks(channels):
            await pubsub.subscribe(*chunk)
        done = await _results(state, job_ids)
        pending.difference_update(done)
        next_sweep = time.monotonic() + _SWEEP_S
        while pending and (left := deadline - time.monotonic()) > 0:
            message = await pubsub.get_message(
                ignore_subscribe_messages=True, timeout=min(left, _SWEEP_S)
            )
            ended = ended_job(message, channels)
            if ended is not None and ended in pending:
                done.update(await _results(state, [ended]))
            if time.monotonic() >= next_sweep:
                done.update(await _results(state, sorted(pending)))
                next_sweep = time.monotonic() + _SWEEP_S
            pending.difference_update(done)
        return done
    finally:
        await pubsub.aclose()


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
        await pubsub.aclose()
