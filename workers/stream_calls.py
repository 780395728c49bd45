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
leaves it there; the next attempt continues it (a prefill) or writes a ``reset`` before its
own answer (``workers/stream_resume.py``).

A caller that disconnected (``broker/job_cancel.py``) is looked for before the request and
then at most every ``CANCEL_LOOK_S`` between reads of the body, one EXISTS each: the call is
then closed (httpx drops the connection of a body left unread) and ends as ``CallCancelled``
(``workers/cancels.py``), the worker's slot freed.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import httpx

from adapters.base import AdapterTarget, ParsedResponse
from adapters.errors import (
    InvalidRequest,
    PrefillRefused,
    ProviderTimeout,
    StreamFault,
    UnsupportedParameter,
    map_stream_error,
    map_transport_error,
)
from adapters.registry import get_adapter
from adapters.streams import Chunk, StreamParser, assemble, get_stream_format
from broker.job_streams import JobStreamWriter
from broker.jobs import Attempt, CompletionRequest, TargetRef, Usage
from routing.catalog import ModelConfig, ProviderConfig
from workers.calls import headers_timeout, restore_read_timeout, timed_call
from workers.cancels import CallCancelled
from workers.delivery import CallOutcome
from workers.http_clients import parsed_url, query_params
from workers.stream_resume import (
    Continuation,
    Resume,
    can_prefill,
    delivered_since_reset,
    partial_usage,
    plan_resume,
    prefill_request,
    summed,
)

__all__ = ["CANCEL_LOOK_S", "ChunkRelay", "StreamJob", "stream_target"]

# How often a streaming call looks whether its caller disconnected.
CANCEL_LOOK_S = 0.25


class ChunkRelay:
    """The chunks of one attempt: kept for the assembled answer, appended to the job's stream
    from the first token on (through ``continuation`` when the attempt continues a prefill)."""

    def __init__(self, writer: JobStreamWriter, continuation: Continuation | None = None) -> None:
        self.writer = writer
        self.continuation = continuation
        self.kept: list[Chunk] = []
        self._held: list[Chunk] = []
        self.appended = False

    def add(self, chunks: list[Chunk]) -> None:
        if self.continuation is not None:
            shown = (self.continuation.chunk(chunk) for chunk in chunks)
            chunks = [chunk for chunk in shown if chunk is not None]
        if not chunks:
            return
        self.kept.extend(chunks)
        if not self.appended and not any(_carries_answer(chunk) for chunk in chunks):
            self._held.extend(chunks)
            return
        self.writer.append([*self._held, *chunks])
        self._held.clear()
        self.appended = True

    def text(self) -> str:
        """Choice 0's text so far."""
        return "".join(
            choice["delta"].get("content") or ""
            for chunk in self.kept
            for choice in chunk.get("choices") or ()
            if choice.get("index", 0) == 0
        )


def _carries_answer(chunk: Chunk) -> bool:
    if "usage" in chunk and not chunk.get("choices"):
        return True
    for choice in chunk.get("choices") or ():
        delta = choice.get("delta") or {}
        if delta.get("content") or delta.get("tool_calls") or choice.get("finish_reason"):
            return True
    return False


@dataclass(frozen=True, slots=True)
class StreamJob:
    """The job an attempt streams for: its id, request and model, the attempts before this
    one, and its stream's writer."""

    job_id: str
    request: CompletionRequest
    model: ModelConfig
    previous: Sequence[Attempt]
    writer: JobStreamWriter


def stream_target(
    client: httpx.Client,
    provider: ProviderConfig,
    target: TargetRef,
    api_key: str,
    job: StreamJob,
) -> CallOutcome:
    """Stream a route target's answer once: its assembled answer or its error, timed, as
    ``call_target``; started where earlier attempts left the job's stream (``resume``)."""
    where = AdapterTarget(target.provider, provider.base_url, target.model_id, provider.options)
    resume = _resume(job, provider)
    request, continuation = job.request, None
    if resume.kind == "prefill":
        earlier = partial_usage(job.request, job.model, resume.text)
        continuation = Continuation(resume.text, earlier)
        request = prefill_request(job.request, resume.text)
    elif resume.kind == "restart":
        job.writer.reset_before_first(resume.error_class, resume.message)
    relay = ChunkRelay(job.writer, continuation)

    def call() -> ParsedResponse:
        if job.writer.cancel_requested():
            raise CallCancelled(None)
        answer = _stream(client, provider, request, where, api_key, job, relay)
        if continuation is None:
            return answer
        first = continuation.first_chunk(relay.kept[0])
        return assemble([first, *relay.kept], summed(continuation.earlier, answer.usage))

    outcome = timed_call(call)
    if resume.kind == "prefill" and isinstance(
        outcome.error, InvalidRequest | UnsupportedParameter
    ):
        refused = PrefillRefused(outcome.error, resume.error_class, resume.message)
        return CallOutcome(None, refused, outcome.started_at, outcome.duration_s)
    return outcome


def _resume(job: StreamJob, provider: ProviderConfig) -> Resume:
    """Where this attempt starts; the stream is read only after an earlier attempt."""
    if not job.previous:
        return Resume("fresh")
    delivered = delivered_since_reset(job.writer.entries())
    prefill = can_prefill(job.request, job.model, provider.wire_format)
    return plan_resume(delivered, job.previous, prefill=prefill)


def _stream(
    client: httpx.Client,
    provider: ProviderConfig,
    request: CompletionRequest,
    where: AdapterTarget,
    api_key: str,
    job: StreamJob,
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
    headers = {**call.headers, "X-Cascade-Job-Id": job.job_id}
    parser = stream_format.parser(where)
    try:
        with client.stream(
            call.method,
            parsed_url(call.url),
            headers=headers,
            json=dict(call.json),
            params=query_params(call.params),
            timeout=timeout,
        ) as response:
            restore_read_timeout(response, reading)
            if not 200 <= response.status_code < 300:
                body = response.read()
                adapter = get_adapter(provider.wire_format)
                raise adapter.classify_error(response.status_code, response.headers, body)
            _read(response, parser, relay, provider, _Watch(job, relay))
    except httpx.ReadTimeout as exc:
        raise ProviderTimeout(_silence(relay, provider)) from exc
    except httpx.TransportError as exc:
        raise map_transport_error(exc) from exc
    except StreamFault as exc:
        raise map_stream_error(exc) from exc
    return assemble(relay.kept, parser.usage)


class _Watch:
    """Looks for the caller's disconnect at most every CANCEL_LOOK_S."""

    def __init__(self, job: StreamJob, relay: ChunkRelay) -> None:
        self._job, self._relay = job, relay
        self._next = time.monotonic() + CANCEL_LOOK_S

    def check(self, now: float) -> None:
        if now < self._next:
            return
        self._next = now + CANCEL_LOOK_S
        if self._job.writer.cancel_requested():
            raise CallCancelled(self.usage_so_far())

    def usage_so_far(self) -> Usage:
        return partial_usage(self._job.request, self._job.model, self._relay.text())


def _read(
    response: httpx.Response,
    parser: StreamParser,
    relay: ChunkRelay,
    provider: ProviderConfig,
    watch: _Watch,
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
        watch.check(now)
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
