"""One streamed provider call: the format's streaming request, its body read as it comes, each
chunk appended to the job's Redis stream, the whole answer assembled for the stored result.

Beside ``workers/calls.py`` (the plain call) and returning the same ``CallOutcome``, so the
runner settles, retries and reroutes a streamed call exactly as a plain one.

Time limits: the catalog's ``timeouts.headers`` (from the request to the response headers),
``timeouts.first_token`` (from the request to the first token) and
``timeouts.stream_idle`` (the longest silence between reads); httpx reads with the smaller as
its read timeout, so a silent provider is given up within it, and a provider that trickles
bytes without a token is given up when the first-token deadline passes. Either is a
``ProviderTimeout``: retried or failed over, the worker's slot freed.

What reaches readers: chunks without content (the role chunk) are held back until the first
token, so an attempt that fails before its first token leaves nothing in the stream and the
failover is invisible to the caller. An attempt that fails after appending some of its answer
appends a ``reset`` entry naming its error (``broker/job_streams.py``): readers discard what
they got, and the next attempt's answer follows whole.
"""

from __future__ import annotations

import time

import httpx

from adapters.base import AdapterTarget, ParsedResponse
from adapters.errors import (
    ProviderError,
    ProviderTimeout,
    StreamFault,
    map_stream_error,
    map_transport_error,
)
from adapters.registry import get_adapter
from adapters.streams import Chunk, StreamParser, assemble, get_stream_format
from broker.job_streams import JobStreamWriter
from broker.jobs import CompletionRequest, TargetRef
from routing.catalog import ProviderConfig
from workers.calls import headers_timeout, restore_read_timeout, timed_call
from workers.delivery import CallOutcome

__all__ = ["ChunkRelay", "stream_target"]


class ChunkRelay:
    """The chunks of one attempt: kept for the assembled answer, appended to the job's stream
    from the first token on."""

    def __init__(self, writer: JobStreamWriter) -> None:
        self.writer = writer
        self.kept: list[Chunk] = []
        self._held: list[Chunk] = []
        self.appended = False

    def add(self, chunks: list[Chunk]) -> None:
        if not chunks:
            return
        self.kept.extend(chunks)
        if not self.appended and not any(_carries_answer(chunk) for chunk in chunks):
            self._held.extend(chunks)
            return
        self.writer.append([*self._held, *chunks])
        self._held.clear()
        self.appended = True

    def abandon(self, error: ProviderError) -> None:
        """The attempt failed: readers drop what it appended."""
        if self.appended:
            self.writer.reset(error.error_class, error.message[:500])


def _carries_answer(chunk: Chunk) -> bool:
    if "usage" in chunk and not chunk.get("choices"):
        return True
    for choice in chunk.get("choices") or ():
        delta = choice.get("delta") or {}
        if delta.get("content") or delta.get("tool_calls") or choice.get("finish_reason"):
            return True
    return False


def stream_target(
    client: httpx.Client,
    provider: ProviderConfig,
    request: CompletionRequest,
    target: TargetRef,
    api_key: str,
    *,
    job_id: str,
    writer: JobStreamWriter,
) -> CallOutcome:
    """Stream a route target's answer once: its assembled answer or its error, timed, as
    ``call_target``; a failed attempt that appended text leaves a reset for its readers."""
    where = AdapterTarget(target.provider, provider.base_url, target.model_id, provider.options)
    relay = ChunkRelay(writer)
    outcome = timed_call(lambda: _stream(client, provider, request, where, api_key, job_id, relay))
    if outcome.error is not None:
        relay.abandon(outcome.error)
    return outcome


def _stream(
    client: httpx.Client,
    provider: ProviderConfig,
    request: CompletionRequest,
    where: AdapterTarget,
    api_key: str,
    job_id: str,
    relay: ChunkRelay,
) -> ParsedResponse:
    stream_format = get_stream_format(provider.wire_format)
    call = stream_format.build_stream_request(request, where, api_key)
    limits = provider.timeouts
    timeout = httpx.Timeout(
        connect=limits.connect,
        read=min(limits.first_token, limits.stream_idle),
        write=limits.write,
        pool=limits.pool,
    )
    # A stream's headers come before its answer is generated: a provider silent past
    # timeouts.headers is given up then, not at the first-token limit.
    reading = timeout
    timeout = headers_timeout(reading, limits.headers)
    headers = {**call.headers, "X-Cascade-Job-Id": job_id}
    parser = stream_format.parser(where)
    try:
        with client.stream(
            call.method,
            call.url,
            headers=headers,
            json=dict(call.json),
            params=dict(call.params),
            timeout=timeout,
        ) as response:
            restore_read_timeout(response, reading)
            if not 200 <= response.status_code < 300:
                body = response.read()
                adapter = get_adapter(provider.wire_format)
                raise adapter.classify_error(response.status_code, response.headers, body)
            _read(response, parser, relay, provider)
    except httpx.ReadTimeout as exc:
        raise ProviderTimeout(_silence(relay, provider)) from exc
    except httpx.TransportError as exc:
        raise map_transport_error(exc) from exc
    except StreamFault as exc:
        raise map_stream_error(exc) from exc
    return assemble(relay.kept, parser.usage)


def _read(
    response: httpx.Response, parser: StreamParser, relay: ChunkRelay, provider: ProviderConfig
) -> None:
    """Feed the body to the parser until the answer is whole (not waiting for a terminal event
    that may never come once every finish reason and the usage are in)."""
    limits = provider.timeouts
    now = time.monotonic()
    first_by, total_by = now + limits.first_token, now + limits.total
    for data in response.iter_bytes():
        relay.add(parser.feed(data))
        if parser.state != "open":
            return
        now = time.monotonic()
        if not relay.appended and now > first_by:
            raise ProviderTimeout(_silence(relay, provider))
        if now > total_by:
            raise ProviderTimeout(f"the stream took longer than its total of {limits.total:g}s")
    relay.add(parser.close())


def _silence(relay: ChunkRelay, provider: ProviderConfig) -> str:
    limits = provider.timeouts
    if not relay.appended:
        return f"no first token within {limits.first_token:g}s (timeouts.first_token)"
    idle = min(limits.first_token, limits.stream_idle)
    return f"the stream stalled: nothing for {idle:g}s (timeouts.stream_idle)"
