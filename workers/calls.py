"""One provider call: build it with the adapter, send it, parse or classify the answer."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import structlog

from adapters.base import Adapter, AdapterTarget, ParsedResponse
from adapters.errors import ProviderError, ProviderTimeout, ServerError, map_transport_error
from adapters.registry import get_adapter
from broker.jobs import CompletionRequest, TargetRef
from routing.catalog import ProviderConfig
from workers.delivery import CallOutcome
from workers.http_clients import parsed_url, query_params

__all__ = [
    "call_provider",
    "call_target",
    "headers_timeout",
    "restore_read_timeout",
    "timed_call",
]

log = structlog.get_logger("cascade.worker")


def call_target(
    client: httpx.Client,
    provider: ProviderConfig,
    request: CompletionRequest,
    target: TargetRef,
    api_key: str,
    *,
    job_id: str,
) -> CallOutcome:
    """Call a route target once: its answer or its error, timed (``timed_call``)."""
    where = AdapterTarget(target.provider, provider.base_url, target.model_id, provider.options)
    return timed_call(
        lambda: call_provider(
            client,
            get_adapter(provider.wire_format),
            request,
            where,
            api_key,
            job_id=job_id,
            total_timeout_s=provider.timeouts.total,
            headers_timeout_s=provider.timeouts.headers,
        )
    )


def timed_call(call: Callable[[], ParsedResponse]) -> CallOutcome:
    """``call``'s answer or its error, timed. Never raises for the call's sake: an unexpected
    exception (a bug) is a ServerError, so that it costs a retry or a reroute, never the job
    itself."""
    started_at, start = datetime.now(UTC), time.perf_counter()
    response: ParsedResponse | None = None
    error: ProviderError | None = None
    try:
        response = call()
    except ProviderError as exc:
        error = exc
    except Exception as exc:
        log.exception("unexpected error in a provider call")
        error = ServerError(f"cascade internal error: {type(exc).__name__}: {exc}")
    return CallOutcome(response, error, started_at, time.perf_counter() - start)


def call_provider(
    client: httpx.Client,
    adapter: Adapter,
    request: CompletionRequest,
    target: AdapterTarget,
    api_key: str,
    *,
    job_id: str,
    total_timeout_s: float,
    headers_timeout_s: float | None = None,
) -> ParsedResponse:
    """The parsed answer; raises a ProviderError subclass for every way the call can fail.

    httpx bounds each phase (connect, each read, each write, the pool wait), not the whole
    call; a server that trickles bytes could hold a worker slot forever, so the body is read
    against a total deadline as well.
    """
    call = adapter.build_request(request, target, api_key)
    headers = {**call.headers, "X-Cascade-Job-Id": job_id}
    deadline = time.monotonic() + total_timeout_s
    timeout = headers_timeout(client.timeout, headers_timeout_s)
    try:
        with client.stream(
            call.method,
            parsed_url(call.url),
            headers=headers,
            json=dict(call.json),
            params=query_params(call.params),
            timeout=timeout,
        ) as response:
            restore_read_timeout(response, client.timeout)
            body = _read_within(response, deadline, total_timeout_s)
    except httpx.TransportError as exc:
        raise map_transport_error(exc) from exc
    if not 200 <= response.status_code < 300:
        raise adapter.classify_error(response.status_code, response.headers, body)
    return adapter.parse_response(response.status_code, response.headers, body, target)


def headers_timeout(base: httpx.Timeout, headers_s: float | None) -> httpx.Timeout:
    """The client's timeouts with the read limit cut to the headers' limit (httpx reads the
    status line and headers under its read timeout)."""
    if headers_s is None or (base.read is not None and base.read <= headers_s):
        return base
    return httpx.Timeout(connect=base.connect, read=headers_s, write=base.write, pool=base.pool)


def restore_read_timeout(response: httpx.Response, base: httpx.Timeout) -> None:
    """Once the headers came, each body read waits the client's own read timeout again.

    httpcore takes the read limit for the body from the request's ``timeout`` extension when
    the body is first read, that is after this call, so setting it here is enough.
    """
    limits = response.request.extensions.get("timeout")
    if isinstance(limits, dict):
        limits["read"] = base.read


def _read_within(response: httpx.Response, deadline: float, total_timeout_s: float) -> bytes:
    chunks = []
    for chunk in response.iter_bytes():
        chunks.append(chunk)
        if time.monotonic() > deadline:
            raise ProviderTimeout(
                f"the call took longer than its total timeout of {total_timeout_s:g}s"
            )
    return b"".join(chunks)
