"""Anthropic's Message Batches: ``POST /v1/messages/batches`` with ``requests: [{custom_id,
params}]`` (each ``params`` the synchronous Messages body), the MessageBatch polled, and its
``results_url`` read: JSONL of ``{"custom_id", "result": {"type": ...}}``, the type one of
``succeeded`` (with the Message), ``errored`` (with an ErrorResponse), ``canceled``,
``expired``.

Sources: anthropic-sdk-python ``types/messages/message_batch.py`` (processing_status
in_progress, canceling, ended; request_counts), ``batch_create_params.py``,
``message_batch_individual_response.py`` and the four ``message_batch_*_result.py`` types;
https://platform.claude.com/docs/en/build-with-claude/batch-processing (100,000 requests or
256 MB per batch, up to 24 hours).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from adapters.anthropic import AnthropicMessagesAdapter
from adapters.anthropic.request import ANTHROPIC_VERSION, request_body
from adapters.base import AdapterTarget, HttpCall
from adapters.batch_api.outcomes import (
    BatchItem,
    BatchState,
    BatchStatus,
    LineOutcome,
    check_custom_ids,
    complete_outcomes,
    json_size,
)
from adapters.errors import ProviderError, ServerError
from adapters.http_response import read_json_object

__all__ = [
    "cancel_call",
    "create_call",
    "line_sizes",
    "parse_results",
    "parse_status",
    "results_call",
    "status_call",
]

_ADAPTER = AnthropicMessagesAdapter()
_STATES: Mapping[str, BatchState] = {
    "in_progress": "running",
    "canceling": "cancelling",
    "ended": "ended",
}
# The HTTP status each error type stands for (docs.claude.com/en/api/errors): an errored
# line carries the type only, and the synchronous error table reads both.
_TYPE_STATUS: Mapping[str, int] = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}


def _headers(api_key: str) -> dict[str, str]:
    return {
        "x-api-key": api_key,
        "anthropic-version": ANTHROPIC_VERSION,
        "content-type": "application/json",
    }


def _batches(target: AdapterTarget) -> str:
    return f"{target.base_url.rstrip('/')}/v1/messages/batches"


def _requests(items: Sequence[BatchItem], target: AdapterTarget) -> list[dict[str, Any]]:
    check_custom_ids(items)
    return [
        {"custom_id": item.custom_id, "params": request_body(item.request, target)}
        for item in items
    ]


def create_call(items: Sequence[BatchItem], target: AdapterTarget, api_key: str) -> HttpCall:
    """The create call; InvalidRequest for a line the synchronous adapter refuses."""
    body = {"requests": _requests(items, target)}
    return HttpCall("POST", _batches(target), _headers(api_key), body)


def line_sizes(items: Sequence[BatchItem], target: AdapterTarget) -> list[int]:
    """Each request's bytes in the create body as JSON is sent (for
    routing.offload.group_lines, against the provider's byte limit)."""
    return [json_size(entry) for entry in _requests(items, target)]


def status_call(batch_id: str, target: AdapterTarget, api_key: str) -> HttpCall:
    return HttpCall("GET", f"{_batches(target)}/{batch_id}", _headers(api_key), {})


def cancel_call(batch_id: str, target: AdapterTarget, api_key: str) -> HttpCall:
    return HttpCall("POST", f"{_batches(target)}/{batch_id}/cancel", _headers(api_key), {})


def results_call(results_url: str, api_key: str) -> HttpCall:
    return HttpCall("GET", results_url, _headers(api_key), {})


def parse_status(body: bytes) -> BatchStatus:
    """A MessageBatch; ServerError when the body is not one."""
    batch = read_json_object(body)
    if batch is None or batch.get("type") != "message_batch" or not isinstance(
        batch.get("id"), str
    ):
        raise ServerError("the answer is not a MessageBatch object")
    status = str(batch.get("processing_status"))
    if status not in _STATES:
        raise ServerError(f"the MessageBatch has an unknown processing_status {status!r}")
    counts = batch.get("request_counts") or {}
    numbers = {name: counts.get(name, 0) for name in
               ("processing", "succeeded", "errored", "canceled", "expired")}
    url = batch.get("results_url")
    return BatchStatus(
        batch_id=batch["id"],
        state=_STATES[status],
        # "ended" says nothing of why; a cancel asked for tells the lines apart
        provider_status="canceled" if status == "ended" and batch.get("cancel_initiated_at")
        else status,
        results=(url,) if isinstance(url, str) and url else (),
        done=sum(numbers.values()) - numbers["processing"],
        total=sum(numbers.values()),
    )


def parse_results(
    custom_ids: Sequence[str], status: BatchStatus, content: bytes, target: AdapterTarget
) -> list[LineOutcome]:
    """One outcome per custom_id from the results file's content."""
    found: dict[str, LineOutcome] = {}
    for number, text in enumerate(content.decode("utf-8", "replace").splitlines(), 1):
        if not text.strip():
            continue
        line = read_json_object(text.encode())
        result = line.get("result") if line is not None else None
        if line is None or not isinstance(line.get("custom_id"), str) or not isinstance(
            result, dict
        ):
            raise ServerError(f"results line {number} is not a batch result object")
        found[line["custom_id"]] = _outcome(line["custom_id"], result, target)
    return complete_outcomes(custom_ids, found, status)


def _outcome(custom_id: str, result: Mapping[str, Any], target: AdapterTarget) -> LineOutcome:
    kind = result.get("type")
    if kind == "succeeded":
        body = json.dumps(result.get("message")).encode()
        try:
            answer = _ADAPTER.parse_response(200, {}, body, target)
        except ProviderError as exc:
            return LineOutcome(custom_id, "errored", error=exc)
        return LineOutcome(custom_id, "succeeded", answer=answer)
    if kind == "errored":
        response = _mapping(result.get("error"))
        code = _TYPE_STATUS.get(str(_mapping(response.get("error")).get("type")), 500)
        error = _ADAPTER.classify_error(code, {}, json.dumps(response).encode())
        return LineOutcome(custom_id, "errored", error=error)
    if kind == "canceled":
        return LineOutcome(custom_id, "cancelled")
    if kind == "expired":
        return LineOutcome(custom_id, "expired")
    return LineOutcome(custom_id, "errored", error=ServerError(f"unknown result type {kind!r}"))


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}
