"""Unknown routes and methods answered in OpenAI's error shape, not Starlette's plain text.

An OpenAI SDK reads ``error.message`` from any 4xx body; a plain-text 404 or 405 gives it
nothing to show. The wording follows OpenAI's own ("Invalid URL (GET /v1/nothing)").
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

__all__ = ["http_error_response"]

_CODES = {404: "unknown_url", 405: "method_not_allowed"}


def _message(request: Request, status: int, detail: str) -> str:
    where = f"{request.method} {request.url.path}"
    if status == 404:
        return f"Invalid URL ({where})"
    if status == 405:
        return f"Method not allowed ({where}): this URL does not take {request.method}"
    return f"{detail} ({where})"


def _allowed(request: Request) -> str:
    # Starlette's Allow names the methods of the first route matching the path only; a path
    # served by several routes (GET and POST /v1/files) takes the methods of them all.
    methods: set[str] = set()
    for route in request.app.router.routes:
        if isinstance(route, Route) and route.methods and route.path_regex.match(request.url.path):
            methods |= route.methods
    return ", ".join(sorted(methods))


async def http_error_response(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    error = {
        "message": _message(request, exc.status_code, exc.detail),
        "type": "invalid_request_error",
        "param": None,
        "code": _CODES.get(exc.status_code),
    }
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = _allowed(request)
    return JSONResponse({"error": error}, status_code=exc.status_code, headers=headers)
