"""The HTTP API as a Starlette application: routes, errors, the OpenAPI document, life cycle.

``create_app(client, tenants)`` builds it; the webhook dispatcher runs in a thread of the API
process unless ``webhooks=False`` (then run ``cascade webhooks`` somewhere).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.schemas import SchemaGenerator

from broker.batches import Batches
from broker.client import CascadeClient
from broker.http_api import (
    batch_routes,
    files_list_routes,
    files_routes,
    job_stream_routes,
    jobs_routes,
    models_routes,
    openai_routes,
    pipeline_routes,
    provider_webhook_routes,
)
from broker.http_api.errors import ApiError, api_error_response, unexpected_error_response
from broker.http_api.route_errors import http_error_response
from broker.http_api.state import ApiState
from broker.http_api.tenants import TenantDirectory
from broker.http_api.wait_slots import WaitSlots
from broker.pipelines.state import PipelineStore
from broker.pipelines.webhooks import with_pipelines
from broker.redis_clients import async_redis_client
from broker.webhooks import WebhookDispatcher

__all__ = ["OPENAPI_INFO", "create_app", "openapi_document", "webhook_dispatcher"]

_PATH_PARAMETER = re.compile(r"{(\w+)}")

OPENAPI_INFO: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {
        "title": "cascade",
        "version": "0.1.0",
        "description": "An asynchronous, queue-based inference broker. OpenAI-compatible chat "
        "completions, Files and Batches, and native jobs. Authenticate with "
        "'Authorization: Bearer <tenant API key>'.",
    },
    "security": [{"bearer": []}],
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "schemas": {
            "ChatCompletionRequest": {
                "type": "object",
                "required": ["model", "messages"],
                "properties": {
                    "model": {"type": "string", "description": "a cascade tier or model"},
                    "messages": {"type": "array", "items": {"type": "object"}},
                },
                "additionalProperties": True,
            },
            "JobSubmission": {
                "type": "object",
                "required": ["needs", "request"],
                "properties": {
                    "needs": {"type": "object"},
                    "request": {"type": "object"},
                    "envelope": {"type": "object"},
                    "webhook_url": {"type": "string", "format": "uri"},
                },
            },
        },
    },
}


def webhook_dispatcher(batches: Batches, tenants: TenantDirectory) -> WebhookDispatcher:
    client = batches.client
    return WebhookDispatcher(
        client.redis,
        client.keys,
        payload_for=with_pipelines(
            batches.webhook_payload,
            PipelineStore(client.redis, client.keys, client.settings.result_ttl_s),
        ),
        secrets=tenants.webhook_secrets,
    )


def openapi_document(schemas: SchemaGenerator, routes: list[Any]) -> dict[str, Any]:
    """The OpenAPI document, every operation declaring the parameters of its path (Starlette
    leaves them out, and a fuzzer cannot call an operation whose path it cannot fill in)."""
    document = schemas.get_schema(routes=routes)
    for path, operations in document.get("paths", {}).items():
        names = _PATH_PARAMETER.findall(path)
        for operation in operations.values():
            declared = operation.setdefault("parameters", [])
            known = {(p.get("name"), p.get("in")) for p in declared}
            declared[:0] = [
                {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                for name in names
                if (name, "path") not in known
            ]
    return document


def create_app(
    client: CascadeClient,
    tenants: TenantDirectory,
    *,
    webhooks: bool = True,
    default_timeout_s: float = 60.0,
) -> Starlette:
    schemas = SchemaGenerator(OPENAPI_INFO)

    async def openapi(request: Request) -> Response:
        # Starlette's OpenAPIResponse renders YAML; /openapi.json is JSON.
        return JSONResponse(openapi_document(schemas, request.app.routes))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        batches = Batches(client)
        aredis = async_redis_client(client.settings)
        app.state.cascade = ApiState(
            client=client,
            batches=batches,
            tenants=tenants,
            webhooks=batches.webhooks,
            aredis=aredis,
            default_timeout_s=default_timeout_s,
            max_timeout_s=client.settings.api_max_wait_s,
            waits=WaitSlots(client.settings.api_max_waits_per_tenant),
        )
        dispatcher = webhook_dispatcher(batches, tenants) if webhooks else None
        running = dispatcher.start_thread() if dispatcher else None
        try:
            yield
        finally:
            if running is not None:
                running[1].set()
                running[0].join(timeout=15)
            await aredis.aclose()

    routes = [
        *openai_routes.ROUTES,
        *files_routes.ROUTES,
        *files_list_routes.ROUTES,
        *batch_routes.ROUTES,
        *models_routes.ROUTES,
        *jobs_routes.ROUTES,
        *job_stream_routes.ROUTES,
        *pipeline_routes.ROUTES,
        *provider_webhook_routes.ROUTES,
        Route("/openapi.json", openapi, include_in_schema=False),
    ]
    return Starlette(
        routes=routes,
        exception_handlers={
            ApiError: api_error_response,
            HTTPException: http_error_response,
            Exception: unexpected_error_response,
        },
        lifespan=lifespan,
    )
