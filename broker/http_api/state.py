"""What every request handler shares: the client, batches, tenants and an asyncio Redis."""

from __future__ import annotations

from dataclasses import dataclass, field

import redis.asyncio as aioredis
from pydantic import TypeAdapter
from starlette.requests import Request

from broker.batches import Batches
from broker.client import CascadeClient
from broker.http_api.errors import ApiError
from broker.http_api.tenants import TenantDirectory
from broker.http_api.wait_slots import WaitSlots
from broker.jobs import CompletionResult, FailedResult, JobResult
from broker.keys import Keys
from broker.webhooks import WebhookRegistry

__all__ = ["RESULT", "ApiState", "state_of", "tenant_of"]

RESULT = TypeAdapter[CompletionResult | FailedResult](JobResult)


@dataclass
class ApiState:
    client: CascadeClient
    batches: Batches
    tenants: TenantDirectory
    webhooks: WebhookRegistry
    aredis: aioredis.Redis
    default_timeout_s: float = 60.0
    max_timeout_s: float = 600.0
    waits: WaitSlots = field(default_factory=lambda: WaitSlots(100))

    @property
    def keys(self) -> Keys:
        return self.client.keys


def state_of(request: Request) -> ApiState:
    found: ApiState = request.app.state.cascade
    return found


def tenant_of(request: Request) -> str:
    """The tenant the request's ``Authorization: Bearer <key>`` belongs to; 401 otherwise."""
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise ApiError(
            401,
            "no API key: send 'Authorization: Bearer <key>'",
            type="authentication_error",
            code="missing_api_key",
        )
    tenant = state_of(request).tenants.tenant_for(key.strip())
    if tenant is None:
        raise ApiError(401, "invalid API key", type="authentication_error", code="invalid_api_key")
    return tenant
