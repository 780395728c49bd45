"""One provider call: build it with the adapter, send it, parse or classify the answer."""

from __future__ import annotations

import httpx

from adapters.base import Adapter, AdapterTarget, ParsedResponse
from adapters.errors import map_transport_error
from broker.jobs import CompletionRequest

__all__ = ["call_provider"]


def call_provider(
    client: httpx.Client,
    adapter: Adapter,
    request: CompletionRequest,
    target: AdapterTarget,
    api_key: str,
    *,
    job_id: str,
) -> ParsedResponse:
    """The parsed answer; raises a ProviderError subclass for every way the call can fail."""
    call = adapter.build_request(request, target, api_key)
    headers = {**call.headers, "X-Cascade-Job-Id": job_id}
    try:
        response = client.request(
            call.method, call.url, headers=headers, json=dict(call.json), params=dict(call.params)
        )
    except httpx.TransportError as exc:
        raise map_transport_error(exc) from exc
    if not 200 <= response.status_code < 300:
        raise adapter.classify_error(response.status_code, response.headers, response.content)
    return adapter.parse_response(response.status_code, response.headers, response.content, target)
