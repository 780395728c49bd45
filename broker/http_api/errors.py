"""API errors, answered in OpenAI's error shape so that OpenAI SDKs raise their usual exceptions.

``{"error": {"message", "type", "param", "code"}}``, as in
https://platform.openai.com/docs/guides/error-codes; cascade adds fields beside ``error`` (the
job id, the refused lines of a batch) where they help.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

__all__ = ["ApiError", "api_error_response", "not_found"]


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
