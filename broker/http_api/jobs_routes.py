"""cascade's native job routes: submit one job, read it (optionally waiting), wait for many,
and subscribe to one over Server-Sent Events. A job of another tenant is a 404.

Waits run on the event loop (redis.asyncio pub/sub), never in a thread, and each tenant holds
at most ``CASCADE_API_MAX_WAITS_PER_TENANT`` of them at once.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from broker.client import IdConflict, SubmitError
from broker.http_api.errors import ApiError, not_found
from broker.http_api.inputs import json_body, request_timeout, seconds
from broker.http_api.state import ApiState, state_of, tenant_of
from broker.http_api.streams import job_events, wait_many, wait_result
from broker.http_api.wait_slots import released_after
from broker.ids import is_valid_id
from broker.job_notes import job_notes
from broker.offload.status import read_offload

__all__ = ["ROUTES"]

_MAX_WAIT_IDS = 10_000


async def _foreign(state: ApiState, job_ids: list[str], tenant: str) -> list[str]:
    """The ids among ``job_ids`` that are not this tenant's jobs (unknown ones included)."""
    # A string that is no job id names no job: it is never read, as it may spell another key.
    candidates = [job_id for job_id in job_ids if is_valid_id(job_id)]
    pipe = state.aredis.pipeline(transaction=False)
    for job_id in candidates:
        pipe.hget(state.keys.job(job_id), "tenant")
    owners = dict(zip(candidates, await pipe.execute(), strict=True))
    return [job_id for job_id in job_ids if owners.get(job_id) != tenant.encode()]


async def _check_owner(request: Request) -> tuple[ApiState, str]:
    tenant = tenant_of(request)
    state = state_of(request)
    job_id = request.path_params["job_id"]
    if await _foreign(state, [job_id], tenant):
        raise not_found("job", job_id)
    return state, job_id


def _envelope(body: dict[str, Any], tenant: str) -> dict[str, Any]:
    envelope = body.get("envelope")
    if envelope is None:
        envelope = {}
    if not isinstance(envelope, dict):
        raise ApiError(400, "envelope: must be a JSON object", param="envelope")
    if envelope.get("tenant", tenant) != tenant:
        raise ApiError(
            400,
            "envelope.tenant: must be the API key's tenant or left out",
            param="envelope.tenant",
        )
    if envelope.get("batch_id") is not None:
        raise ApiError(
            400,
            "envelope.batch_id: set by cascade's batch code only; use /v1/batches",
            param="envelope.batch_id",
        )
    return {**envelope, "tenant": tenant}


async def submit_job(request: Request) -> Response:
    """Submit one job: `{needs, request, envelope?, webhook_url?}`.
    ---
    summary: Submit a job
    description: >
      `needs` routes it (a tier or model, capabilities, budget), `request` is an OpenAI
      chat-completions body without model. `webhook_url` gets a signed POST when it ends.
    requestBody:
      content: {application/json: {schema: {$ref: '#/components/schemas/JobSubmission'}}}
    responses:
      202: {description: '{id, status: queued}'}
      400: {description: refused; the message names the field; nothing was enqueued}
      409: {description: envelope.id is taken (not by this tenant); nothing was enqueued}
    """
    tenant = tenant_of(request)
    state = state_of(request)
    body = await json_body(request)
    webhook_url = body.pop("webhook_url", None)
    if webhook_url is not None:
        # Checked before the submit: a refused URL must not leave a job running.
        try:
            if not isinstance(webhook_url, str):
                raise ValueError("webhook_url: must be a string")
            state.webhooks.check_url(webhook_url)
        except ValueError as exc:
            raise ApiError(400, str(exc), param="webhook_url") from exc
    body["envelope"] = _envelope(body, tenant)
    try:
        job = state.client.parse_job(body)
        job_id = await run_in_threadpool(state.client.submit, job)
    except IdConflict as exc:
        raise ApiError(409, str(exc), param="envelope.id", code="id_conflict") from exc
    except SubmitError as exc:
        raise ApiError(400, str(exc)) from exc
    if webhook_url is not None:
        await run_in_threadpool(state.webhooks.watch, f"job:{job_id}", webhook_url, tenant)
    return JSONResponse(
        {"id": job_id, "object": "cascade.job", "status": "queued"}, status_code=202
    )


def _job_view(
    job_id: str, status: str, result: Any, notes: dict[str, str] | None = None
) -> dict[str, Any]:
    view = {
        "id": job_id,
        "object": "cascade.job",
        "status": status,
        "result": None if result is None else result.model_dump(mode="json"),
    }
    if notes:  # where the submit put it: offloaded, or held for a price window
        view["scheduling"] = notes
    return view


async def get_job(request: Request) -> Response:
    """A job's status and, once it has ended, its result; `?wait=S` waits up to S seconds.
    `offload` tells a job that may wait for a provider batch: the decision and its reason,
    then where it is (parked, in_provider_batch with the provider's batch id and state,
    answered, fell_back with why), or null when no offload was weighed.
    ---
    summary: Get a job
    parameters:
      - {name: wait, in: query, required: false, schema: {type: number}}
    responses:
      200: {description: '{id, status, result, held, offload, scheduling}'}
      404: {description: no such job}
    """
    state, job_id = await _check_owner(request)
    wait = request_timeout(request, state, "wait") if "wait" in request.query_params else 0.0
    if wait > 0:
        with state.waits.take(tenant_of(request)):
            result = await wait_result(state, job_id, wait)
    else:
        result = await wait_result(state, job_id, 0.0)
    status = (
        result.status.value
        if result
        else (await run_in_threadpool(state.client.status, job_id)).value
    )
    notes = await run_in_threadpool(job_notes, state.client.redis, state.keys, job_id)
    view = _job_view(job_id, status, result, notes)
    # Why it waits, or waited, without a call (one entry, however often it was held).
    held = await run_in_threadpool(state.client.store.hold_record, job_id)
    view["held"] = None if held is None else held.view()
    view["offload"] = await run_in_threadpool(
        read_offload, state.client.redis, state.keys, job_id, result
    )
    return JSONResponse(view)


async def wait_jobs(request: Request) -> Response:
    """Wait for many jobs at once: `{ids: [...], timeout: S}`; answers with those that ended.
    ---
    summary: Wait for several jobs
    requestBody:
      content:
        application/json:
          schema:
            type: object
            required: [ids]
            properties: {ids: {type: array, items: {type: string}}, timeout: {type: number}}
    responses:
      200: {description: '{data: [job, ...], pending: [id, ...]}'}
      404: {description: an id is not one of this tenant's jobs}
    """
    tenant = tenant_of(request)
    state = state_of(request)
    body = await json_body(request)
    ids = body.get("ids")
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids) or not ids:
        raise ApiError(400, "ids must be a non-empty list of job ids", param="ids")
    if len(ids) > _MAX_WAIT_IDS:
        raise ApiError(400, f"at most {_MAX_WAIT_IDS} ids per call", param="ids")
    timeout = seconds(body.get("timeout", 0), "timeout", maximum=state.max_timeout_s)
    if foreign := await _foreign(state, ids, tenant):
        raise not_found("job", foreign[0])
    with state.waits.take(tenant):
        done = await wait_many(state, ids, timeout)
    data = [_job_view(job_id, result.status.value, result) for job_id, result in done.items()]
    return JSONResponse(
        {
            "object": "list",
            "data": data,
            "pending": [job_id for job_id in ids if job_id not in done],
        }
    )


async def job_stream(request: Request) -> Response:
    """Server-Sent Events: the job's status, then its result when it ends.
    ---
    summary: Subscribe to a job (text/event-stream)
    parameters:
      - {name: timeout, in: query, required: false, schema: {type: number}}
    responses: {200: {description: 'events: status, then result (or timeout)'}}
    """
    state, job_id = await _check_owner(request)
    timeout = request_timeout(request, state)
    slot = state.waits.take(tenant_of(request))
    return StreamingResponse(
        released_after(job_events(state, job_id, timeout), slot),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache"},
    )


ROUTES = [
    Route("/v1/jobs", submit_job, methods=["POST"]),
    Route("/v1/jobs/wait", wait_jobs, methods=["POST"]),
    Route("/v1/jobs/{job_id}", get_job, methods=["GET"]),
    Route("/v1/jobs/{job_id}/events", job_stream, methods=["GET"]),
]
