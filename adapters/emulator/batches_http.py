"""What the emulator's three batch APIs share at the HTTP edge: an ``Answer`` as a response,
the key check, a JSON body read, and RFC 3339 times (Anthropic's and Google's)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from adapters.emulator.wire import Answer, WireFormat

__all__ = ["NOT_JSON", "json_body", "refusal", "respond", "rfc3339"]

# what json_body returns for a body that is not JSON (None is a valid JSON body)
NOT_JSON = object()


def respond(answer: Answer) -> Response:
    return JSONResponse(dict(answer.body), status_code=answer.status, headers=dict(answer.headers))


def refusal(wire: WireFormat, request: Request) -> Response | None:
    """The wire format's 401 when the request carries no key, else None."""
    refused = wire.authenticate(request.headers)
    return None if refused is None else respond(refused)


async def json_body(request: Request) -> Any:
    """The decoded body, or ``NOT_JSON``."""
    try:
        return json.loads(await request.body())
    except ValueError:
        return NOT_JSON


def rfc3339(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")
