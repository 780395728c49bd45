"""The pipeline routes: submit one, read it, wait for it, follow its events (SSE), cancel it;
and a catalog pipeline answered as a chat completion (``model="pipeline:<name>"``).

A pipeline of another tenant is a 404, as a job is. The facade is built once per application,
with the catalog file's named pipelines.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from broker.catalog_file import load_pipelines
from broker.client import IdConflict, SubmitError
from broker.http_api.errors import ApiError, not_found
from broker.http_api.inputs import json_body, request_timeout
from broker.http_api.pipeline_stream import PipeStyle, cursor_of, pipeline_sse, streamed_response
from broker.http_api.state import ApiState, state_of, tenant_of
from broker.http_api.streams import sse
from broker.http_api.wait_slots import released_after
from broker.pipelines.facade import Pipelines, UnknownPipeline
from broker.pipelines.graph import PipelineError
from broker.pipelines.records import PipelineResult
from broker.pipelines.state import PipelineRecord
from broker.pipelines.streaming import Cursor

__all__ = ["PIPELINE_MODEL_PREFIX", "ROUTES", "pipeline_completion"]

PIPELINE_MODEL_PREFIX = "pipeline:"
_KEEPALIVE_S = 15.0


def _pipelines(request: Request) -> Pipelines:
    found: Pipelines | None = getattr(request.app.state, "pipelines", None)
    if found is None:
        client = state_of(request).client
        found = Pipelines(client, load_pipelines(client.settings.config))
        request.app.state.pipelines = found
    return found


def _view(record: PipelineRecord) -> dict[str, Any]:
    runs = [run.model_dump(mode="json") for group in record.runs.values() for run in group]
    return {
        "id": record.pipeline_id,
        "object": "pipeline",
        "name": record.spec.name,
        "status": record.status.value,
        "steps": runs,
        "cost_usd": sum(run["cost_usd"] for run in runs),
        "result": record.result.model_dump(mode="json") if record.result else None,
    }


async def _record(request: Request) -> tuple[Pipelines, PipelineRecord, str]:
    tenant = tenant_of(request)
    pipelines = _pipelines(request)
    pipeline_id = request.path_params["pipeline_id"]
    try:
        record = await run_in_threadpool(pipelines.record, pipeline_id, tenant)
    except UnknownPipeline:
        raise not_found("pipeline", pipeline_id) from None
    return pipelines, record, tenant


async def _start(
    request: Request, pipeline: Any, data: Any, pipeline_id: Any, envelope: Any
) -> str:
    tenant = tenant_of(request)
    if not isinstance(data, dict):
        raise ApiError(400, "input: must be a JSON object", param="input")
    try:
        return await run_in_threadpool(
            lambda: _pipelines(request).submit(
                pipeline, data, pipeline_id=pipeline_id, tenant=tenant, envelope=envelope
            )
        )
    except IdConflict as exc:
        raise ApiError(409, str(exc), param="id", code="id_taken") from exc
    except (PipelineError, SubmitError) as exc:
        raise ApiError(400, str(exc)) from exc


async def submit_pipeline(request: Request) -> Response:
    """Submit a pipeline: `{pipeline: <definition or catalog name>, input?, id?, envelope?,
    webhook_url?}`; the webhook gets a signed `pipeline.<status>` POST when it ends.
    ---
    summary: Submit a pipeline
    responses:
      202: {description: '{id, status: running}'}
      400: {description: refused; each line names the bad field; nothing was started}
      409: {description: the id is another tenant's}
    """
    body = await json_body(request)
    if "pipeline" not in body:
        raise ApiError(
            400, "pipeline: a definition or a catalog pipeline's name is required", param="pipeline"
        )
    envelope = body.get("envelope") or {}
    if not isinstance(envelope, dict) or "tenant" in envelope or "id" in envelope:
        raise ApiError(
            400, "envelope: an object without tenant or id (set by cascade)", param="envelope"
        )
    if body.get("stream"):
        # The output step's rounds are submitted streamed: read at /v1/pipelines/{id}/stream.
        envelope = {**envelope, "stream": True}
    webhook_url = body.get("webhook_url")
    if webhook_url is not None:
        try:
            state_of(request).webhooks.check_url(str(webhook_url))
        except ValueError as exc:
            raise ApiError(400, f"webhook_url: {exc}", param="webhook_url") from exc
    pid = await _start(request, body["pipeline"], body.get("input", {}), body.get("id"), envelope)
    if webhook_url is not None:
        # Watched after the start: a pipeline that has ended already is still looked at.
        await run_in_threadpool(
            state_of(request).webhooks.watch,
            f"pipeline:{pid}",
            str(webhook_url),
            tenant_of(request),
        )
    return JSONResponse({"id": pid, "object": "pipeline", "status": "running"}, status_code=202)


async def get_pipeline(request: Request) -> Response:
    """A pipeline: status, every step round (tier, provider, attempts, cost), its result.
    ---
    summary: Read a pipeline
    responses:
      200: {description: the pipeline}
      404: {description: no such pipeline for this API key}
    """
    _, record, _ = await _record(request)
    return JSONResponse(_view(record))


async def _wait(
    request: Request, pipelines: Pipelines, pipeline_id: str, tenant: str, timeout: float
) -> PipelineResult | None:
    state: ApiState = state_of(request)
    pubsub = state.aredis.pubsub()
    await pubsub.subscribe(state.keys.pipeline_channel(pipeline_id))
    deadline = time.monotonic() + timeout
    try:
        while True:
            record = await run_in_threadpool(pipelines.record, pipeline_id, tenant)
            if record.result is not None or (left := deadline - time.monotonic()) <= 0:
                return record.result
            await pubsub.get_message(ignore_subscribe_messages=True, timeout=min(left, 1.0))
    finally:
        await pubsub.aclose()


async def wait_pipeline(request: Request) -> Response:
    """Wait for a pipeline's result, up to `timeout` seconds.
    ---
    summary: Wait for a pipeline
    parameters:
      - {name: timeout, in: query, required: false, schema: {type: number}}
    responses:
      200: {description: its result (status succeeded, failed or cancelled)}
      202: {description: still running when the timeout passed}
    """
    pipelines, record, tenant = await _record(request)
    timeout = request_timeout(request, state_of(request))
    with state_of(request).waits.take(tenant):
        result = await _wait(request, pipelines, record.pipeline_id, tenant, timeout)
    if result is None:
        return JSONResponse(_view(record), status_code=202)
    return JSONResponse(result.model_dump(mode="json"))


async def _events(
    request: Request, pipelines: Pipelines, pipeline_id: str, timeout: float
) -> AsyncIterator[str]:
    state = state_of(request)
    pubsub = state.aredis.pubsub()
    await pubsub.subscribe(state.keys.pipeline_channel(pipeline_id))
    try:
        seen = 0
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            for event in await run_in_threadpool(pipelines.store.events, pipeline_id, seen):
                seen += 1
                yield sse(str(event.get("event", "event")), event)
                if event.get("event") == "finished":
                    return
            message = await pubsub.get_message(
                ignore_subscribe_messages=True, timeout=min(left, _KEEPALIVE_S)
            )
            if message is None:
                yield ": keep-alive\n\n"
        yield sse("timeout", {"pipeline_id": pipeline_id})
    finally:
        await pubsub.aclose()


async def pipeline_events(request: Request) -> Response:
    """Server-Sent Events: every event of the pipeline so far, then each as it comes, up to
    `finished`.
    ---
    summary: Follow a pipeline's events
    responses:
      200: {description: 'text/event-stream: submitted, step_queued, step_ended, ... finished'}
    """
    pipelines, record, tenant = await _record(request)
    timeout = request_timeout(request, state_of(request))
    slot = state_of(request).waits.take(tenant)
    stream = released_after(_events(request, pipelines, record.pipeline_id, timeout), slot)
    return StreamingResponse(stream, media_type="text/event-stream")


async def stream_pipeline(request: Request) -> Response:
    """Server-Sent Events: a streamed pipeline's answer, its output step's chunks as they come.
    ---
    summary: Stream a pipeline's answer
    description: >
      For a pipeline submitted with `stream: true`. Each event's id is `<round>:<entry id>`;
      `Last-Event-ID` resumes after it. `event: cascade.reset` where a round of the output step
      was sent back (validation, escalation) or an attempt failed over: discard what came before.
      Ends with `data: [DONE]`, or an error object when the pipeline failed.
    responses:
      200: {description: 'text/event-stream: chat.completion.chunk lines'}
      400: {description: a Last-Event-ID not of the form <round>:<entry id>}
      404: {description: no such pipeline for this API key}
      409: {description: the pipeline was not submitted with stream true}
    """
    pipelines, record, tenant = await _record(request)
    if not record.envelope.get("stream"):
        raise ApiError(
            409,
            f"pipeline {record.pipeline_id} was not submitted to stream (stream: true in"
            " POST /v1/pipelines); its answer is at /v1/pipelines/{id}",
            param="stream",
            code="not_streamed",
        )
    cursor = cursor_of(request)
    timeout = request_timeout(request, state_of(request))
    slot = state_of(request).waits.take(tenant)
    style = PipeStyle(record.pipeline_id, native=True)
    events = pipeline_sse(state_of(request), pipelines, cursor, style, timeout)
    return streamed_response(released_after(events, slot), record.pipeline_id)


async def cancel_pipeline(request: Request) -> Response:
    """Cancel a pipeline and its unfinished step jobs.
    ---
    summary: Cancel a pipeline
    responses:
      200: {description: the pipeline after the cancel}
    """
    pipelines, record, tenant = await _record(request)
    await run_in_threadpool(pipelines.cancel, record.pipeline_id, tenant)
    return JSONResponse(_view(await run_in_threadpool(pipelines.record, record.pipeline_id)))


async def pipeline_completion(request: Request, body: dict[str, Any]) -> Response:
    """A catalog pipeline run for a chat-completions body; its output step's answer as a
    chat.completion. The input holds the ``messages`` and the last user message as ``question``.
    """
    name = str(body["model"])[len(PIPELINE_MODEL_PREFIX) :]
    messages = body.get("messages")
    if not isinstance(messages, list):
        raise ApiError(400, "messages: a list of messages is required", param="messages")
    question = next(
        (
            m.get("content")
            for m in reversed(messages)
            if isinstance(m, dict) and m.get("role") == "user"
        ),
        "",
    )
    data = {"messages": messages, "question": question if isinstance(question, str) else ""}
    tenant, timeout = tenant_of(request), request_timeout(request, state_of(request))
    if body.get("stream"):
        return await _streamed_completion(request, body, name, data)
    # Taken before the start: over the tenant's bound, the 429 leaves no pipeline behind.
    with state_of(request).waits.take(tenant):
        pid = await _start(request, name, data, None, {})
        result = await _wait(request, _pipelines(request), pid, tenant, timeout)
    extra = {"pipeline_id": pid}
    if result is None:
        raise ApiError(
            504,
            f"pipeline {pid} did not finish within the timeout; it goes on",
            type="timeout",
            code="timeout",
            extra=extra,
        )
    if result.status != "succeeded":
        raise ApiError(
            502,
            result.error or result.status.value,
            type="cascade_pipeline_failed",
            code=result.status.value,
            extra=extra,
        )
    return JSONResponse(
        _chat_completion(body["model"], result), headers={"x-cascade-pipeline-id": pid}
    )


async def _streamed_completion(
    request: Request, body: dict[str, Any], name: str, data: dict[str, Any]
) -> Response:
    options = body.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise ApiError(400, "stream_options must be an object", param="stream_options")
    state, tenant = state_of(request), tenant_of(request)
    timeout = request_timeout(request, state)
    slot = state.waits.take(tenant)
    try:
        pid = await _start(request, name, data, None, {"stream": True})
    except BaseException:
        slot.release()
        raise
    include_usage = bool((options or {}).get("include_usage"))
    style = PipeStyle(pid, native=False, include_usage=include_usage, model=str(body["model"]))
    events = pipeline_sse(state, _pipelines(request), Cursor(), style, timeout)
    return streamed_response(released_after(events, slot), pid)


def _chat_completion(model: str, result: PipelineResult) -> dict[str, Any]:
    prompt = sum(run.prompt_tokens for run in result.steps)
    completion = sum(run.completion_tokens for run in result.steps)
    return {
        "id": f"chatcmpl-{result.pipeline_id}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": result.text},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        },
        "pipeline_id": result.pipeline_id,
        "cost_usd": result.cost_usd,
        "steps": [run.model_dump(mode="json") for run in result.steps],
    }


ROUTES = [
    Route("/v1/pipelines", submit_pipeline, methods=["POST"]),
    Route("/v1/pipelines/{pipeline_id}", get_pipeline, methods=["GET"]),
    Route("/v1/pipelines/{pipeline_id}/wait", wait_pipeline, methods=["GET"]),
    Route("/v1/pipelines/{pipeline_id}/events", pipeline_events, methods=["GET"]),
    Route("/v1/pipelines/{pipeline_id}/stream", stream_pipeline, methods=["GET"]),
    Route("/v1/pipelines/{pipeline_id}/cancel", cancel_pipeline, methods=["POST"]),
]
