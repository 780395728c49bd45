"""Gemini's Batch API (the Developer API), with inline requests: ``POST
/v1beta/models/{model}:batchGenerateContent`` with ``batch.inputConfig.requests.requests:
[{request, metadata: {key}}]``, each request the synchronous generateContent body; the batch
is a long-running Operation (``name: batches/...``) read with ``GET /v1beta/batches/{id}``
and stopped with ``POST /v1beta/batches/{id}:cancel``. When done, its
``metadata.output.inlinedResponses.inlinedResponses`` hold one entry per request, a
GenerateContentResponse or a google.rpc error, with the request's metadata.

Inline requests keep a batch under 20 MB (the catalog's ``max_bytes`` for Gemini says so); an
uploaded JSONL file (up to 2 GB) is not used yet.

Sources: python-genai ``batches.py`` (``_CreateBatchJobParameters_to_mldev``,
``_InlinedRequest_to_mldev``, ``_BatchJob_from_mldev``, ``_InlinedResponse_from_mldev``) and
``_transformers.py`` (``t_job_state``: BATCH_STATE_PENDING, RUNNING, SUCCEEDED, FAILED,
CANCELLED, EXPIRED); https://ai.google.dev/gemini-api/docs/batch-api.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

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
from adapters.gemini import GeminiAdapter
from adapters.gemini.request import API_VERSION, request_body
from adapters.http_response import read_json_object

__all__ = [
    "cancel_call",
    "create_call",
    "line_sizes",
    "parse_outcomes",
    "parse_status",
    "status_call",
]

_ADAPTER = GeminiAdapter()
_STATES: Mapping[str, BatchState] = {
    "BATCH_STATE_PENDING": "running",
    "BATCH_STATE_RUNNING": "running",
    "BATCH_STATE_SUCCEEDED": "ended",
    "BATCH_STATE_FAILED": "ended",
    "BATCH_STATE_CANCELLED": "ended",
    "BATCH_STATE_EXPIRED": "ended",
}


def _headers(api_key: str) -> dict[str, str]:
    return {"Content-Type": "application/json", "x-goog-api-key": api_key}


def _root(target: AdapterTarget) -> str:
    return f"{target.base_url.rstrip('/')}/{API_VERSION}"


def _requests(items: Sequence[BatchItem]) -> list[dict[str, Any]]:
    check_custom_ids(items)
    return [
        {"request": request_body(item.request), "metadata": {"key": item.custom_id}}
        for item in items
    ]


def line_sizes(items: Sequence[BatchItem]) -> list[int]:
    """Each inline request's bytes in the create body as JSON is sent (for
    routing.offload.group_lines, against the provider's byte limit)."""
    return [json_size(entry) for entry in _requests(items)]


def create_call(
    items: Sequence[BatchItem], target: AdapterTarget, api_key: str, display_name: str
) -> HttpCall:
    """The create call; InvalidRequest for a line the synchronous adapter refuses."""
    body = {
        "batch": {
            "displayName": display_name,
            "inputConfig": {"requests": {"requests": _requests(items)}},
        }
    }
    model = target.model_id.removeprefix("models/")
    url = f"{_root(target)}/models/{model}:batchGenerateContent"
    return HttpCall("POST", url, _headers(api_key), body)


def _batch_path(batch_id: str) -> str:
    return batch_id if batch_id.startswith("batches/") else f"batches/{batch_id}"


def status_call(batch_id: str, target: AdapterTarget, api_key: str) -> HttpCall:
    """``batch_id`` is the Operation's name (``batches/...``) or its last part."""
    return HttpCall("GET", f"{_root(target)}/{_batch_path(batch_id)}", _headers(api_key), {})


def cancel_call(batch_id: str, target: AdapterTarget, api_key: str) -> HttpCall:
    url = f"{_root(target)}/{_batch_path(batch_id)}:cancel"
    return HttpCall("POST", url, _headers(api_key), {})


def _operation(body: bytes) -> dict[str, Any]:
    operation = read_json_object(body)
    if operation is None or not str(operation.get("name", "")).startswith("batches/"):
        raise ServerError("the answer is not a batch Operation")
    return operation


def parse_status(body: bytes) -> BatchStatus:
    """The batch Operation; ServerError when the body is not one."""
    operation = _operation(body)
    metadata = _mapping(operation.get("metadata"))
    state = str(metadata.get("state"))
    if state not in _STATES:
        raise ServerError(f"the batch has an unknown state {state!r}")
    stats = _mapping(metadata.get("batchStats"))
    error = _mapping(operation.get("error"))
    failed = state == "BATCH_STATE_FAILED"
    return BatchStatus(
        batch_id=operation["name"],
        state=_STATES[state],
        provider_status=state,
        failure=str(error.get("message") or "the provider gave no reason") if failed else None,
        done=_int(stats.get("successfulRequestCount")) + _int(stats.get("failedRequestCount"))
        if stats else None,
        total=_int(stats.get("requestCount")) if stats else None,
    )


def parse_outcomes(
    custom_ids: Sequence[str], body: bytes, target: AdapterTarget
) -> list[LineOutcome]:
    """One outcome per custom_id from the batch Operation itself (inline responses live in
    it). An entry without metadata is matched by its position, as the responses keep the
    order of the requests."""
    operation = _operation(body)
    status = parse_status(body)
    output = _mapping(_mapping(operation.get("metadata")).get("output")) or _mapping(
        operation.get("response")
    )
    entries = _mapping(output.get("inlinedResponses")).get("inlinedResponses") or []
    found: dict[str, LineOutcome] = {}
    for index, entry in enumerate(entries):
        key = _mapping(_mapping(entry).get("metadata")).get("key")
        if not isinstance(key, str):
            key = custom_ids[index] if index < len(custom_ids) else None
        if key is not None:
            found[key] = _outcome(key, _mapping(entry), target)
    return complete_outcomes(custom_ids, found, status)


def _outcome(custom_id: str, entry: Mapping[str, Any], target: AdapterTarget) -> LineOutcome:
    if "response" in entry:
        body = json.dumps(entry["response"]).encode()
        try:
            answer = _ADAPTER.parse_response(200, {}, body, target)
        except ProviderError as exc:
            return LineOutcome(custom_id, "errored", error=exc)
        return LineOutcome(custom_id, "succeeded", answer=answer)
    error = _mapping(entry.get("error"))
    code = error.get("code")
    # google.rpc.Status carries a gRPC code (3, 8, 13...); its HTTP twin comes with "status"
    status = _GRPC_HTTP.get(code, 500) if isinstance(code, int) and code < 100 else code
    body = json.dumps({"error": {**error, "code": status}}).encode()
    return LineOutcome(
        custom_id,
        "errored",
        error=_ADAPTER.classify_error(status if isinstance(status, int) else 500, {}, body),
    )


# google.rpc.Code -> HTTP status (googleapis google/rpc/code.proto)
_GRPC_HTTP: Mapping[int, int] = {
    1: 499, 2: 500, 3: 400, 4: 504, 5: 404, 6: 409, 7: 403, 8: 429, 9: 400,
    10: 409, 11: 400, 12: 501, 13: 500, 14: 503, 15: 500, 16: 401,
}


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def _int(value: object) -> int:
    # int64 fields come as strings in Google's JSON
    try:
        return int(str(value))
    except ValueError:
        return 0
