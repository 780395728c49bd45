"""Streamed answers: whether a call asked for one, the plan of what to send (faults included),
and the ASGI response that plays it.

A call streams when its body says ``"stream": true`` (OpenAI, Azure, Anthropic, Cohere) or its
route is Gemini's ``:streamGenerateContent`` (always SSE, as with ``alt=sse``). The plan is a
pure function of the rendered stream and the fault rule that fired (see ``FaultRule`` for the
stream kinds); ``StreamingAnswer`` sends the 200 and its headers at once, then each event as
its own body chunk. A held stream ends early when the client hangs up.

The outcome counted for a streamed call (``GET /_emulator/calls``, ``by_status``) is ``"200"``
for a whole stream and the fault's kind (``"stall"``, ``"cut"``, ...) for a broken one.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from adapters.emulator.faults import FaultRule
from adapters.emulator.stream_render import StreamScript

__all__ = [
    "Hold",
    "StreamAsk",
    "StreamPlan",
    "StreamingAnswer",
    "pace",
    "plan_stream",
    "stream_ask",
]


@dataclass(frozen=True, slots=True)
class StreamAsk:
    """A call that asked for a stream; ``include_usage`` is OpenAI's ``stream_options`` flag."""

    include_usage: bool = True


@dataclass(frozen=True, slots=True)
class Hold:
    """Keep the connection open, sending nothing, for ``seconds``."""

    seconds: float


@dataclass(frozen=True, slots=True)
class StreamPlan:
    """What to send, in order; ``ends`` is False when the body is left unfinished (a cut)."""

    steps: tuple[bytes | Hold, ...]
    ends: bool = True


def stream_ask(body: bytes, route_streams: bool) -> StreamAsk | None:
    """The stream a call asked for, or None for a plain call."""
    if route_streams:
        return StreamAsk()
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(data, dict) or data.get("stream") is not True:
        return None
    options = data.get("stream_options")
    include = isinstance(options, dict) and options.get("include_usage") is True
    return StreamAsk(include_usage=include)


def plan_stream(script: StreamScript, rule: FaultRule | None, default_hang_s: float) -> StreamPlan:
    """The events of ``script``, broken the way ``rule`` says (None: the whole stream)."""
    events, terminal = script.events, script.terminal
    if rule is None:
        return StreamPlan((*events, *terminal))
    hang = rule.hang_s if rule.hang_s is not None else default_hang_s
    split = len(events) // 2 if rule.after_chunks is None else min(rule.after_chunks, len(events))
    head, tail = events[:split], events[split:]
    if rule.kind == "slow_first_token":
        return StreamPlan((Hold(hang), *events, *terminal))
    if rule.kind == "stall":
        return StreamPlan((*head, Hold(hang), *tail, *terminal))
    if rule.kind == "cut":
        return StreamPlan(head, ends=False)
    if rule.kind == "malformed_chunk":
        return StreamPlan((*head, script.malformed, *tail, *terminal))
    if rule.kind == "no_terminal":
        held = rule.hang_s if rule.hang_s is not None else 0.0
        return StreamPlan((*events, Hold(held)) if held else events)
    raise ValueError(f"kind: {rule.kind!r} is not a stream fault")


def pace(plan: StreamPlan, interval_s: float) -> StreamPlan:
    """``plan`` with a wait of ``interval_s`` between one event and the next."""
    if interval_s <= 0:
        return plan
    steps: list[bytes | Hold] = []
    for step in plan.steps:
        if isinstance(step, bytes) and steps and isinstance(steps[-1], bytes):
            steps.append(Hold(interval_s))
        steps.append(step)
    return StreamPlan(tuple(steps), plan.ends)


class StreamingAnswer(Response):
    """A 200 ``text/event-stream`` answer that plays a ``StreamPlan``; ``on_client_closed``
    hears of a client that hung up before the end (events sent, events planned)."""

    def __init__(
        self,
        plan: StreamPlan,
        headers: Mapping[str, str],
        on_client_closed: Callable[[int, int], None] | None = None,
    ) -> None:
        super().__init__(status_code=200)
        self.plan = plan
        self.extra_headers = dict(headers)
        self.on_client_closed = on_client_closed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = {
            **self.extra_headers,
            "content-type": "text/event-stream; charset=utf-8",
            "cache-control": "no-cache",
        }
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()],
            }
        )
        planned = sum(1 for step in self.plan.steps if isinstance(step, bytes))
        sent = 0
        for step in self.plan.steps:
            if isinstance(step, Hold):
                if await _client_left_within(receive, step.seconds):
                    if self.on_client_closed is not None:
                        self.on_client_closed(sent, planned)
                    return
                continue
            await send({"type": "http.response.body", "body": step, "more_body": True})
            sent += 1
        if self.plan.ends:
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        # else: returning with the body unfinished makes the server drop the connection,
        # which the client sees as a body cut short (httpx: RemoteProtocolError)


async def _client_left_within(receive: Receive, seconds: float) -> bool:
    """Wait ``seconds``; True as soon as the client hangs up instead."""
    try:
        async with asyncio.timeout(seconds):
            while (await receive())["type"] != "http.disconnect":
                pass
    except TimeoutError:
        return False
    return True
