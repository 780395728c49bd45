"""The emulator's ASGI app: provider calls under ``/{provider}/...``, control under ``/_emulator/``.

One call goes: match the path to a wire format, read the body, count the call, check the key,
validate, pick a fault, wait the latency, answer. Every wait is ``asyncio.sleep``, so one process
holds hundreds of slow calls at once. A call that asks for a stream gets its answer as the
format's event stream (``streaming.py``), broken the way a stream fault rule says.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.types import Receive, Scope, Send

from adapters.emulator.batches_engine import BatchBook
from adapters.emulator.batches_routes import batch_control_routes, batch_routes
from adapters.emulator.config import EmulatorConfig
from adapters.emulator.content import Prompt, make_reply
from adapters.emulator.control import control_routes
from adapters.emulator.dispatch import DEFAULT_ROUTES, WireRoute, match_route
from adapters.emulator.faults import STREAM_KINDS, FaultRule
from adapters.emulator.openai_wire import not_found_answer
from adapters.emulator.state import EmulatorState
from adapters.emulator.stream_render import render_stream
from adapters.emulator.streaming import (
    StreamAsk,
    StreamingAnswer,
    pace,
    plan_stream,
    stream_ask,
)
from adapters.emulator.wire import Answer, CallMeta, WireFormat

__all__ = ["JOB_ID_HEADER", "create_app", "emulator_state"]

JOB_ID_HEADER = "x-cascade-job-id"
# Where the app puts the connection's transport for a ``reset`` fault (see _EmulatorApp).
_TRANSPORT = "cascade.emulator.transport"

_ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


class _DroppedConnection(Response):
    """Starts an answer, sends part of its body, and returns: uvicorn then closes the socket,
    so the client sees a connection closed mid-answer (httpx: ``RemoteProtocolError``)."""

    def __init__(self) -> None:
        super().__init__(status_code=200)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"4096")],
            }
        )
        await send({"type": "http.response.body", "body": b'{"id": "chatcmpl-', "more_body": True})


class _ResetConnection(Response):
    """Resets the connection before any byte of an answer: SO_LINGER 0, then an abort, so
    the kernel sends RST (the client: "connection reset by peer", no status line)."""

    def __init__(self) -> None:
        super().__init__(status_code=200)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        transport = scope.get(_TRANSPORT)
        if transport is None:
            raise RuntimeError("a reset fault needs the emulator served by uvicorn over TCP")
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
        # Let the server see the connection lost before this returns, so it sends no 500.
        for _ in range(3):
            await asyncio.sleep(0)


class _EmulatorApp(Starlette):
    """Starlette, plus the server's transport in the scope: ASGI gives an app no way to
    reset its connection, and a ``reset`` fault must. uvicorn's ``send`` is a method of its
    request cycle, which holds the transport; under another server the fault says so."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        cycle = getattr(send, "__self__", None)
        transport = getattr(cycle, "transport", None)
        if transport is not None:
            scope[_TRANSPORT] = transport
        await super().__call__(scope, receive, send)


def create_app(
    config: EmulatorConfig | None = None, routes: Sequence[WireRoute] = DEFAULT_ROUTES
) -> Starlette:
    """A fresh emulator app with its own state, started from ``config``."""
    state = EmulatorState(config or EmulatorConfig())
    batches = BatchBook(state)

    async def provider_call(request: Request) -> Response:
        return await _handle_call(state, routes, request)

    app = _EmulatorApp(
        routes=[
            Mount("/_emulator", routes=[*control_routes(state), *batch_control_routes(batches)]),
            *batch_routes(batches),
            Route("/{provider}/{rest:path}", provider_call, methods=_ALL_METHODS),
        ]
    )
    app.state.emulator = state
    return app


def emulator_state(app: Starlette) -> EmulatorState:
    """The state of an app made by ``create_app`` (for tests that inspect it in-process)."""
    state = app.state.emulator
    assert isinstance(state, EmulatorState)
    return state


async def _handle_call(
    state: EmulatorState, routes: Sequence[WireRoute], request: Request
) -> Response:
    provider = request.path_params["provider"]
    job_id = request.headers.get(JOB_ID_HEADER) or None
    found = match_route(routes, "/" + request.path_params["rest"])
    if found is None or request.method != "POST":
        state.record_received(provider, None, job_id)
        return _finish(state, job_id, not_found_answer(request.method, request.url.path))
    route, path_params = found
    wire = route.wire
    body = await request.body()
    parsed = wire.read(provider, body, path_params)
    call_number = state.record_received(provider, parsed.model, job_id)
    rejection = wire.authenticate(request.headers) or parsed.error
    if rejection is not None or parsed.prompt is None:
        return _finish(state, job_id, rejection or not_found_answer("POST", request.url.path))
    ask = stream_ask(body, route.stream)
    return await _answer(state, wire, parsed.prompt, request, _Call(call_number, ask))


@dataclass(frozen=True, slots=True)
class _Call:
    number: int
    stream: StreamAsk | None


async def _answer(
    state: EmulatorState, wire: WireFormat, prompt: Prompt, request: Request, call: _Call
) -> Response:
    job_id = request.headers.get(JOB_ID_HEADER) or None
    rule = state.next_fault(prompt.provider, prompt.model, stream=call.stream is not None)
    if rule is None or rule.kind in STREAM_KINDS:
        latency = state.latency_for(prompt.provider, prompt.model)
        if latency > 0:
            await asyncio.sleep(latency)
        meta = CallMeta(call_number=call.number, latency_s=latency, created=state.config.created)
        answer = wire.success(prompt, make_reply(prompt), meta)
        if call.stream is None:
            return _finish(state, job_id, answer)
        return _stream(state, job_id, wire, answer, call.stream, rule)
    if rule.kind == "disconnect":
        state.record_outcome(job_id, "disconnect")
        return _DroppedConnection()
    if rule.kind == "reset":
        state.record_outcome(job_id, "reset")
        if rule.hang_s:
            await _hold(request, rule.hang_s)
        return _ResetConnection()
    if rule.kind == "timeout":
        await _hold(request, rule.hang_s if rule.hang_s is not None else state.config.hang_s)
    return _finish(state, job_id, wire.fault(rule, prompt.model))


async def _hold(request: Request, seconds: float) -> None:
    """Wait ``seconds``, or less if the client hangs up first (its read timeout fired), so a
    held call does not outlive its client and hold up a shutdown."""
    try:
        async with asyncio.timeout(seconds):
            while (await request.receive())["type"] != "http.disconnect":
                pass
    except TimeoutError:
        pass


def _stream(
    state: EmulatorState,
    job_id: str | None,
    wire: WireFormat,
    answer: Answer,
    ask: StreamAsk,
    rule: FaultRule | None,
) -> Response:
    """The success ``answer`` as its format's stream, broken as ``rule`` says."""
    script = render_stream(wire.name, answer.body, include_usage=ask.include_usage)
    state.record_outcome(job_id, "200" if rule is None else rule.kind)
    plan = plan_stream(script, rule, state.config.hang_s)

    def closed_early(sent: int, planned: int) -> None:
        state.record_client_closed(job_id, sent, planned)

    return StreamingAnswer(
        pace(plan, state.latency.chunk_interval_s), answer.headers, on_client_closed=closed_early
    )


def _finish(state: EmulatorState, job_id: str | None, answer: Answer) -> Response:
    state.record_outcome(job_id, str(answer.status))
    return JSONResponse(dict(answer.body), status_code=answer.status, headers=dict(answer.headers))
