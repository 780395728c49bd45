"""``POST /v1/provider-webhooks/{provider}``: a provider's batch webhooks (OpenAI's
``batch.completed``, ``batch.failed``, ``batch.expired``, ``batch.cancelled``).

Not a tenant's route: the provider authenticates by its Standard Webhooks signature, keyed by
the secret in the variable its catalog entry names (``batch.webhook_secret_env``). A refused
delivery (unknown provider, bad or stale signature, not an event) writes nothing. An accepted
one makes the poller read that provider batch now (``broker/offload/intake.py``); its results
are folded there as a poll's would be, and polling stays the fallback.
"""

from __future__ import annotations

import os
import time

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from broker.http_api.errors import ApiError
from broker.http_api.inputs import bounded_stream
from broker.http_api.state import state_of
from broker.offload.intake import IntakeRefused, take_in, webhook_secret

__all__ = ["ROUTES"]

# A batch event is a few hundred bytes; anything far larger is not one.
_MAX_BODY = 64 * 1024


async def provider_webhook(request: Request) -> Response:
    """A provider's signed batch event; the pollers look at that batch at once.
    ---
    summary: Take in a provider's batch webhook
    security: []
    description: >
      Verified by the provider's Standard Webhooks signature (webhook-id, webhook-timestamp,
      webhook-signature) within five minutes; a webhook-id already taken in is acknowledged
      and does nothing. Point the provider's webhook endpoint (OpenAI: batch.* events) here.
    requestBody:
      content:
        application/json:
          schema:
            type: object
            required: [type, data]
            properties:
              id: {type: string}
              type: {type: string, description: 'batch.completed, batch.failed, ...'}
              data: {type: object, properties: {id: {type: string}}}
    responses:
      200: {description: '{received: true, outcome: nudged | unknown_batch | duplicate | ignored}'}
      400: {description: 'the signature, its timestamp or the body is refused; nothing written'}
      404: {description: 'the provider is not in the catalog or takes no webhooks here'}
    """
    state = state_of(request)
    provider = request.path_params["provider"]
    try:
        secret = webhook_secret(state.client.catalog, provider, os.environ)
        chunks = [c async for c in bounded_stream(request, _MAX_BODY, "the body", "a webhook")]
        taken = await take_in(
            state.aredis, state.keys, provider, secret, request.headers, b"".join(chunks),
            now=time.time(),
        )
    except IntakeRefused as exc:
        code = "invalid_webhook" if exc.status == 400 else "not_found"
        raise ApiError(exc.status, str(exc), code=code, param=exc.param) from exc
    return JSONResponse(
        {"received": True, "outcome": taken.outcome, "batch_id": taken.batch_id,
         "type": taken.event_type}
    )


ROUTES = [Route("/v1/provider-webhooks/{provider}", provider_webhook, methods=["POST"])]
