"""Reading what a request carries: a bounded JSON body, and numbers of seconds.

Everything here refuses with a 400 (413 for a body over its cap) that names what is wrong,
before a route touches Redis: a malformed request can never get as far as a half-done write.
"""

from __future__ import annotations

import json
import math
from collections.abc import AsyncGenerator
from typing import Any, NoReturn

from starlette.requests import Request

from broker.http_api.errors import ApiError
from broker.http_api.state import ApiState, state_of

__all__ = [
    "bounded_stream",
    "json_body",
    "query_seconds",
    "request_timeout",
    "seconds",
    "too_large",
]


def too_large(what: str, limit: int, setting: str) -> ApiError:
    return ApiError(
        413,
        f"{what} is over the limit of {limit} bytes (set by {setting})",
        code="request_too_large",
    )


async def bounded_stream(
    request: Request, limit: int, what: str, setting: str
) -> AsyncGenerator[bytes, None]:
    """The request body chunk by chunk, refused with 413 as soon as it passes ``limit`` bytes:
    the rest is never read, so an oversized body costs no memory."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large(what, limit, setting)
    seen = 0
    async for chunk in request.stream():
        seen += len(chunk)
        if seen > limit:
            raise too_large(what, limit, setting)
        yield chunk


def _refuse_constant(name: str) -> NoReturn:
    # Python's json reads NaN and Infinity, which JSON (RFC 8259) does not have.
    raise ValueError(f"{name} is not valid JSON")


def _check_tree(value: Any, max_depth: int) -> None:
    """Refuse nesting deeper than ``max_depth`` and strings that cannot be UTF-8 (lone
    surrogates written as \\ud800 escapes), naming where; iterative, so depth costs no stack."""
    stack: list[tuple[Any, str, int]] = [(value, "body", 1)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > max_depth:
                raise ApiError(400, f"{path}: JSON nested deeper than {max_depth} levels")
            pairs = item.items() if isinstance(item, dict) else enumerate(item)
            for key, child in pairs:
                if isinstance(key, str):
                    _check_text(key, f"{path} (a key)")
                child_path = f"{path}.{key}" if isinstance(key, str) else f"{path}[{key}]"
                stack.append((child, child_path, depth + 1))
        elif isinstance(item, str):
            _check_text(item, path)


def _check_text(text: str, path: str) -> None:
    try:
        text.encode()
    except UnicodeEncodeError as exc:
        raise ApiError(400, f"{path}: a string holds an unpaired surrogate escape") from exc


async def json_body(request: Request) -> dict[str, Any]:
    """The body as a JSON object, read up to ``api_max_body_bytes`` and nested at most
    ``api_max_json_depth`` deep; 400 naming the reason (not UTF-8, not JSON, too deep)."""
    settings = state_of(request).client.settings
    chunks = [
        chunk
        async for chunk in bounded_stream(
            request, settings.api_max_body_bytes, "the body", "CASCADE_API_MAX_BODY_BYTES"
        )
    ]
    raw = b"".join(chunks)
    del chunks
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(400, f"the body is not valid UTF-8 (byte {exc.start})") from exc
    del raw
    try:
        body = json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise ApiError(
            400, f"the body is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from exc
    except RecursionError as exc:
        raise ApiError(400, "the body is JSON nested too deep") from exc
    except ValueError as exc:
        raise ApiError(400, f"the body is not valid JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise ApiError(400, f"the body must be a JSON object, not {_kind(body)}")
    _check_tree(body, settings.api_max_json_depth)
    return body


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {
        bool: "a boolean",
        int: "a number",
        float: "a number",
        str: "a string",
        list: "an array",
        dict: "an object",
    }[type(value)]


def seconds(value: Any, name: str, *, maximum: float) -> float:
    """A number of seconds given in JSON: finite, not negative; above ``maximum`` it is cut
    to ``maximum`` (the longest any wait lasts)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ApiError(400, f"{name} must be a number of seconds, not {_kind(value)}", param=name)
    return _bounded(float(value), name, maximum)


def query_seconds(request: Request, name: str, *, default: float, maximum: float) -> float:
    """A number of seconds from the query string (or ``X-Cascade-Timeout``), else ``default``."""
    raw = request.query_params.get(name)
    if raw is None:
        raw = request.headers.get("x-cascade-timeout")
    if raw is None or raw == "":
        return min(default, maximum)
    try:
        value = float(raw)
    except ValueError as exc:
        raise ApiError(400, f"{name} must be a number of seconds, not {raw!r}", param=name) from exc
    return _bounded(value, name, maximum)


def _bounded(value: float, name: str, maximum: float) -> float:
    if not math.isfinite(value):
        raise ApiError(400, f"{name} must be a finite number of seconds", param=name)
    if value < 0:
        raise ApiError(400, f"{name} must not be negative", param=name)
    return min(value, maximum)


def request_timeout(request: Request, state: ApiState, name: str = "timeout") -> float:
    """How long a request waits: its ``name`` query parameter, else the default."""
    return query_seconds(
        request, name, default=state.default_timeout_s, maximum=state.max_timeout_s
    )
