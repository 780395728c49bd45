"""API errors, answered in OpenAI's error shape so that OpenAI SDKs raise their usual exceptions.

``{"error": {"message", "type", "param", "code"}}``, as in
https://platform.openai.com/docs/guides/error-codes; cascade adds fields beside ``error`` (the
job id, the refused lines of a batch) where they help.
"""

from __future__ import annotations

from typing import Any

import structlog
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

__all__ = [
    "ApiError",
    "api_error_response",
    "not_found",
    "unexpected_error_response",
]

log = structlog.get_logger("cascade.http_api")


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param
        self.extra = extra or {}
        self.headers = headers


def not_found(what: str, ident: str) -> ApiError:
    # The same answer for "never existed" and "another tenant's": a key learns nothing of others.
    return ApiError(404, f"no {what} with id {ident!r}", code="not_found")


async def api_error_response(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    error = {"message": exc.message, "type": exc.type, "param": exc.param, "code": exc.code}
    return JSONResponse({"error": error, **exc.extra}, status_code=exc.status, headers=exc.headers)


async def unexpected_error_response(request: Request, exc: Exception) -> Response:
    """A bug, answered in the same shape as every other error (an SDK raises its usual
    InternalServerError) and logged with its traceback; the message gives nothing away."""
    log.error(
        "api.unexpected_error",
        method=request.method,
        path=request.url.path,
        error_class=type(exc).__name__,
        exc_info=exc,
    )
    error = {
        "message": "internal error: the request failed unexpectedly; it has been logged",
        "type": "server_error",
        "param": None,
        "code": "internal_error",
    }
    return JSONResponse({"error": error}, status_code=500)
