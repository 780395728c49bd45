"""Gemini's Batch API (inline requests) as the emulator serves it:
``POST /v1beta/models/{model}:batchGenerateContent``, ``GET /v1beta/batches/{id}`` and
``POST /v1beta/batches/{id}:cancel``.

The batch is a long-running Operation whose ``metadata`` is the GenerateContentBatch
(state, model, times, ``batchStats``) and, once ended, holds ``output.inlinedResponses``:
one entry per line that ran, in line order, with the request's metadata; a line that failed
carries a google.rpc.Status (gRPC code, message) instead of a response. Lines never run (an
expired or cancelled batch) have no entry. python-genai's ``_BatchJob_from_mldev`` reads these
bodies into its ``BatchJob`` (tests/adapters/emulator checks that).
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from adapters.emulator.batches_engine import BatchBook, EmulatedBatch, LineResult, LineSpec
from adapters.emulator.batches_http import NOT_JSON, json_body, refusal, respond, rfc3339
from adapters.emulator.gemini_wire import GeminiWire, google_error

__all__ = ["GeminiBatches"]

_TYPE = "type.googleapis.com/google.ai.generativelanguage.v1main."
_ENDINGS = {
    "completed": "BATCH_STATE_SUCCEEDED",
    "expired": "BATCH_STATE_EXPIRED",
    "cancelled": "BATCH_STATE_CANCELLED",
}
# google.rpc.Code of a status name (googleapis google/rpc/code.proto)
_GRPC_CODES = {
    "CANCELLED": 1, "UNKNOWN": 2, "INVALID_ARGUMENT": 3, "DEADLINE_EXCEEDED": 4,
    "NOT_FOUND": 5, "ALREADY_EXISTS": 6, "PERMISSION_DENIED": 7, "RESOURCE_EXHAUSTED": 8,
    "FAILED_PRECONDITION": 9, "ABORTED": 10, "OUT_OF_RANGE": 11, "UNIMPLEMENTED": 12,
    "INTERNAL": 13, "UNAVAILABLE": 14, "DATA_LOSS": 15, "UNAUTHENTICATED": 16,
}




class GeminiBatches:
    """The endpoint functions, bound to one app's batch book."""

    def __init__(self, book: BatchBook) -> None:
        self.book = book
        self.wire = GeminiWire()

    async def create(self, request: Request) -> Response:
        if (refused := refusal(self.wire, request)) is not None:
            return refused
        body = await json_body(request)
        if body is NOT_JSON:
            return respond(google_error(400, "Invalid JSON payload received."))
        model = request.path_params["model"]
        lines = _lines(body, model)
        if isinstance(lines, str):
            return respond(google_error(400, lines))
        batch = self.book.create("", request.path_params["provider"], self.wire, lines)
        batch.extra.update(model=model, display_name=body["batch"].get("displayName", ""))
        return JSONResponse(_operation(batch))

    async def retrieve(self, request: Request) -> Response:
        if (refused := refusal(self.wire, request)) is not None:
            return refused
        batch = self.book.get(request.path_params["batch_id"], request.path_params["provider"])
        if batch is None:
            return _not_found(request.path_params["batch_id"])
        return JSONResponse(_operation(batch))

    async def cancel(self, request: Request) -> Response:
        if (refused := refusal(self.wire, request)) is not None:
            return refused
        batch = self.book.cancel(request.path_params["batch_id"], request.path_params["provider"])
        if batch is None:
            return _not_found(request.path_params["batch_id"])
        return JSONResponse({})


def _not_found(batch_id: str) -> Response:
    return respond(google_error(404, f"Batch batches/{batch_id} not found."))


def _lines(body: Any, model: str) -> list[LineSpec] | str:
    """The inline requests as lines, or the message of the 400 that refuses the batch."""
    batch = body.get("batch") if isinstance(body, dict) else None
    config = batch.get("inputConfig") if isinstance(batch, dict) else None
    holder = config.get("requests") if isinstance(config, dict) else None
    requests = holder.get("requests") if isinstance(holder, dict) else None
    if not isinstance(requests, list) or not requests:
        return "batch.input_config.requests.requests: give at least one inline request"
    lines: list[LineSpec] = []
    for index, item in enumerate(requests):
        inner = item.get("request") if isinstance(item, dict) else None
        if not isinstance(inner, dict):
            return f"batch.input_config.requests.requests[{index}].request: required"
        metadata = item.get("metadata")
        key = metadata.get("key") if isinstance(metadata, dict) else None
        custom_id = key if isinstance(key, str) else str(index)
        lines.append(LineSpec(custom_id, json.dumps(inner).encode(), {"model": model}))
    return lines


def _operation(batch: EmulatedBatch) -> dict[str, Any]:
    name = f"batches/{batch.id}"
    ok = batch.answered(200, 300)
    ran = sum(1 for result in batch.results if result.answer is not None)
    state = "BATCH_STATE_RUNNING"
    if batch.ending is not None:
        state = _ENDINGS[batch.ending]
    metadata: dict[str, Any] = {
        "@type": _TYPE + "GenerateContentBatch",
        "name": name,
        "model": f"models/{batch.extra.get('model', '')}",
        "displayName": batch.extra.get("display_name", ""),
        "state": state,
        "createTime": rfc3339(batch.created),
        "updateTime": rfc3339(batch.ended_at or batch.created),
        "batchStats": {
            "requestCount": str(len(batch.lines)),
            "successfulRequestCount": str(ok),
            "failedRequestCount": str(ran - ok),
            "pendingRequestCount": str(len(batch.lines) - len(batch.results)),
        },
    }
    operation: dict[str, Any] = {"name": name, "metadata": metadata, "done": False}
    if batch.ended_at is not None:
        metadata["endTime"] = rfc3339(batch.ended_at)
        output = {"inlinedResponses": {"inlinedResponses": [
            _entry(result) for result in batch.results if result.answer is not None
        ]}}
        metadata["output"] = output
        operation.update(done=True, response={"@type": _TYPE + "GenerateContentBatchOutput",
                                              **output})
    return operation


def _entry(result: LineResult) -> dict[str, Any]:
    entry: dict[str, Any] = {"metadata": {"key": result.custom_id}}
    answer = result.answer
    assert answer is not None
    if 200 <= answer.status < 300:
        entry["response"] = dict(answer.body)
    else:
        error = dict(answer.body.get("error") or {})
        entry["error"] = {
            "code": _GRPC_CODES.get(str(error.get("status")), 2),
            "message": str(error.get("message", "")),
        }
    return entry
