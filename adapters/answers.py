"""Reading a 2xx answer's body: the ways it can be unreadable, reported alike by every format.

An answer that is not what the format promises is the provider's failure, not the caller's, so
each of these is a ``ServerError`` carrying the HTTP status (worth a retry, counted toward the
circuit).
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from adapters.errors import ServerError
from adapters.http_response import body_text, read_json_object, safe_excerpt

__all__ = ["answer_object", "invalid_answer"]


def answer_object(body: bytes, status_code: int) -> dict[str, Any]:
    """The JSON object in ``body``; ServerError quoting an excerpt when it is not one."""
    payload = read_json_object(body)
    if payload is None:
        raise ServerError(
            f"the answer is not a JSON object: {safe_excerpt(body_text(body))!r}",
            status_code=status_code,
        )
    return payload


def invalid_answer(exc: ValidationError, what: str, status_code: int) -> ServerError:
    """The ServerError for an answer that failed validation as ``what``, naming the first field."""
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    return ServerError(
        f"the answer is not a valid {what}: {where}: {first['msg']}", status_code=status_code
    )
