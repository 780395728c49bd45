"""One provider call: build it with the adapter, send it, parse or classify the answer."""

from __future__ import annotations

import time

import httpx

from adapters.base import Adapter, AdapterTarget, ParsedResponse
from adapters.errors import ProviderTimeout, map_transport_error
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
    total_timeout_s: float,
) -> ParsedResponse:
    """The parsed answer; raises a ProviderError subclass for every way the call can fail.

    httpx bounds each phase (connect, each read, each write, the pool wait), not the whole
    call; a server that trickles bytes could hold a worker slot forever, so the body is read
    against a total deadline as well.
    """
    call = adapter.build_request(request, target, api_key)
    headers = {**call.headers, "X-Cascade-Job-Id": job_id}
    deadline = time.monotonic() + total_timeout_s
    try:
        with client.stream(
            call.method, call.url, headers=headers, json=dict(call.json), params=dict(call.params)
        ) as response:
            body = _read_within(response, deadline, total_timeout_s)
    except httpx.TransportError as exc:
        raise map_transport_error(exc) from exc
    if not 200 <= response.status_code < 300:
        raise adapter.classify_error(response.status_code, response.headers, body)
    return adapter.parse_response(response.status_code, response.headers, body, target)


def _read_within(response: httpx.Response, deadline: float, total_timeout_s: float) -> bytes:
    chunks = []
    for chunk in response.iter_bytes():
        chunks.append(chunk)
        if time.monotonic() > deadline:
            raise ProviderTimeout(
                f"the call took longer than its total timeout of {total_timeout_s:g}s"
            )
    return b"".join(chunks)
