"""The emulator's control API under ``/_emulator/``: health, call counts, faults, latency, reset.
(``/_emulator/batches``, how provider batches behave, lives in batches_routes.py; ``reset``
leaves batches alone: ``DELETE /_emulator/batches`` clears them.)

``POST /_emulator/faults`` takes ``{"rules": [...]}`` (``faults.FaultRule``: error statuses, rate
limits, hangs, disconnects, and for streamed calls ``slow_first_token``, ``stall``, ``cut``,
``malformed_chunk``, ``no_terminal``), per provider and model.

``GET /_emulator/calls?times=1`` adds ``arrivals``: per provider, when its calls arrived (epoch
seconds, oldest first), so that a test can measure a rate at the provider's side.

Bodies are JSON. A body that does not validate gets 422 with one entry per bad field::

    {"error": {"message": "rules[0].kind: Input should be ...",
               "fields": [{"field": "rules[0].kind", "message": "Input should be ..."}]}}
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from adapters.emulator.config import LatencySettings
from adapters.emulator.faults import FaultRules
from adapters.emulator.state import EmulatorState
from broker.jobs import format_validation_error

__all__ = ["control_routes", "read_body"]

_Model = TypeVar("_Model", bound=BaseModel)
_YES = frozenset({"1", "true", "yes"})


def control_routes(state: EmulatorState) -> list[Route]:
    """The control endpoints bound to one app's ``state``."""
    control = _Control(state)
    return [
        Route("/health", control.health, methods=["GET"]),
        Route("/calls", control.calls, methods=["GET"]),
        Route("/faults", control.faults, methods=["GET", "POST", "DELETE"]),
        Route("/latency", control.latency, methods=["GET", "POST"]),
        Route("/reset", control.reset, methods=["POST"]),
    ]


class _Control:
    """The endpoint functions; each reads or changes one part of the state."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state

    async def health(self, request: Request) -> Response:
        return JSONResponse({"ok": True})

    async def calls(self, request: Request) -> Response:
        times = request.query_params.get("times", "").lower() in _YES
        return JSONResponse(self.state.calls_snapshot(times=times))

    async def faults(self, request: Request) -> Response:
        if request.method == "POST":
            parsed = await _read(request, FaultRules)
            if isinstance(parsed, Response):
                return parsed
            self.state.set_rules(parsed.rules)
        elif request.method == "DELETE":
            self.state.set_rules([])
        return JSONResponse(_rules_body(self.state))

    async def latency(self, request: Request) -> Response:
        if request.method == "POST":
            parsed = await _read(request, LatencySettings)
            if isinstance(parsed, Response):
                return parsed
            # only the parts the body names change; the others stay as they were
            self.state.latency = self.state.latency.model_copy(update=_given(parsed))
        return JSONResponse(self.state.latency.model_dump())

    async def reset(self, request: Request) -> Response:
        self.state.reset()
        return JSONResponse({"ok": True})


def _rules_body(state: EmulatorState) -> dict[str, Any]:
    return {"rules": [rule.model_dump() for rule in state.rules]}


def _given(model: BaseModel) -> dict[str, Any]:
    return {name: getattr(model, name) for name in model.model_fields_set}


async def _read(request: Request, model: type[_Model]) -> _Model | Response:
    """The body validated as ``model``, or the 400/422 answer that says what is wrong."""
    try:
        data = json.loads(await request.body())
    except ValueError:
        return JSONResponse({"error": {"message": "the body is not JSON", "fields": []}}, 400)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        text = format_validation_error(exc, data)
        fields = [
            {"field": field, "message": message}
            for field, _, message in (line.partition(": ") for line in text.splitlines())
        ]
        return JSONResponse({"error": {"message": text, "fields": fields}}, 422)


async def read_body(request: Request, model: type[_Model]) -> _Model | Response:
    """``_read`` for the control endpoints other modules add (batches_routes.py)."""
    return await _read(request, model)
