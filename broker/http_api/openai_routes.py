"""OpenAI-compatible chat completions: enqueue the job, then wait for it without a thread.

Files and Batches are in ``files_routes`` and ``batch_routes``.

``model`` names a cascade tier, a catalog model or provider/model; an unknown one is a 404
``model_not_found``, as OpenAI answers for a model it lacks. ``extra_body`` routing (cascade's
``needs``, OpenRouter's ``models`` and ``provider``) is read by ``openai_compat``.
``stream: true`` submits a streamed job and answers its chunks (``job_stream_routes``).
"""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from broker.client import SubmitError
from broker.http_api.chat_stream import stream_chat_completion
from broker.http_api.errors import ApiError
from broker.http_api.idempotency import IDEMPOTENCY_HEADER, check_same_request, idempotent_job_id
from broker.http_api.inputs import json_body, request_timeout
from broker.http_api.openai_compat import CompatError, job_inputs, priority_of, result_headers
from broker.http_api.pipeline_routes import pipeline_completion
from broker.http_api.state import state_of, tenant_of
from broker.http_api.streams import wait_result
from broker.http_api.wait_bound import ON_TIMEOUT_HEADER, job_deadline, timeout_message
from broker.jobs import FailedResult

__all__ = ["ROUTES", "failed_status"]

# The HTTP status a failed job is answered with, by its error class; anything else is 502.
# A content-filter refusal is the request's fault, not a gateway's: OpenAI answers it 400, and
# an SDK retries a 502 (the same prompt, refused again) where it raises a 400 at once.
_FAILED_STATUS = {
    "InvalidRequest": 400,
    "ContextTooLong": 400,
    "ContentBlocked": 400,
    "Cancelled": 409,
    "DeadlineExceeded": 504,
}


def failed_status(result: FailedResult) -> int:
    return _FAILED_STATUS.get(result.error_class, 502)


# --- chat completions -------------------------------------------------------------------


async def chat_completions(request: Request) -> Response:
    """Enqueue a chat completion and wait for its result.
    ---
    summary: Create a chat completion (enqueue, then wait up to the timeout)
    description: >
      OpenAI's chat-completions body; `model` names a cascade tier or catalog model. Waits up
      to `timeout` seconds (query or `X-Cascade-Timeout`, default 60); past it, 504 with the
      job id to poll at /v1/jobs/{id}; the job starts no provider call after the wait ends
      unless `X-Cascade-On-Timeout: continue`. With `stream: true`, an event stream of
      chat.completion.chunk lines, then `data: [DONE]`.
      An `Idempotency-Key` header makes a retried POST wait on the job the first one
      submitted (per tenant, for as long as the job is kept); the same key on another
      request is a 422.
    parameters:
      - {name: timeout, in: query, required: false, schema: {type: number}}
    requestBody:
      content: {application/json: {schema: {$ref: '#/components/schemas/ChatCompletionRequest'}}}
    responses:
      200: {description: a chat.completion object with cascade's fields (job_id, attempts, ...)}
      400: {description: invalid request}
      404: {description: unknown model}
      422: {description: the Idempotency-Key was used for another request}
      504: {description: not finished within the timeout; the job stops there unless asked to go on}
    """
    tenant = tenant_of(request)
    state = state_of(request)
    body = await json_body(request)
    if str(body.get("model", "")).startswith("pipeline:"):
        return await pipeline_completion(request, body)
    timeout = request_timeout(request, state)
    if body.get("stream"):
        return await stream_chat_completion(request, body, timeout)
    try:
        fields, needs = job_inputs(body, state.client.catalog)
    except CompatError as exc:
        raise ApiError(exc.status, exc.message, param=exc.param, code=exc.code) from exc
    try:
        priority = priority_of(request.headers.get("x-cascade-priority"), fields)
    except CompatError as exc:
        raise ApiError(exc.status, exc.message, param=exc.param, code=exc.code) from exc
    deadline = job_deadline(datetime.now(UTC), timeout, request.headers.get(ON_TIMEOUT_HEADER))
    keyed_id = idempotent_job_id(tenant, request.headers.get(IDEMPOTENCY_HEADER))
    with state.waits.take(tenant):
        try:
            job = state.client.build_job(
                fields,
                needs=needs,
                tenant=tenant,
                priority=priority,
                deadline=deadline,
                id=keyed_id,
            )
            job_id = await run_in_threadpool(state.client.submit, job)
        except SubmitError as exc:
            raise ApiError(400, str(exc)) from exc
        if keyed_id is not None:
            check_same_request(await run_in_threadpool(state.client.store.load, job_id), job)
        result = await wait_result(state, job_id, timeout)
    headers = {"x-cascade-job-id": job_id} if result is None else result_headers(result)
    if result is None:
        raise ApiError(
            504,
            timeout_message(job_id, bounded=deadline is not None),
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


ROUTES = [Route("/v1/chat/completions", chat_completions, methods=["POST"])]
