"""Anthropic's Message Batches as the emulator serves them: ``POST /v1/messages/batches``,
``GET /v1/messages/batches/{id}``, ``POST .../{id}/cancel`` and ``GET .../{id}/results``.

Answers are the anthropic SDK's ``MessageBatch`` and, one per results line,
``MessageBatchIndividualResponse``. A create call with no requests, or a custom_id that is
malformed or repeated, is refused whole with a 400 naming the request, as the API does; each
request's ``params`` then runs as a synchronous Messages call would (batches_engine.py): an
answer becomes ``succeeded``, an error answer ``errored`` with its error body, a line never
run ``expired`` or ``canceled``.
"""

from __future__ import annotations

import json
import re
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from adapters.emulator.anthropic_wire import AnthropicWire, anthropic_error_answer
from adapters.emulator.batches_engine import BatchBook, EmulatedBatch, LineResult, LineSpec
from adapters.emulator.batches_http import NOT_JSON, json_body, refusal, respond, rfc3339

__all__ = ["AnthropicBatches"]

_CUSTOM_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_WINDOW_S = 24 * 3600
_PATH = "/v1/messages/batches"



def _invalid(message: str) -> Response:
    return respond(anthropic_error_answer(400, "invalid_request_error", message))



class AnthropicBatches:
    """The endpoint functions, bound to one app's batch book."""

    def __init__(self, book: BatchBook) -> None:
        self.book = book
        self.wire = AnthropicWire()

    async def create(self, request: Request) -> Response:
        if (refused := refusal(self.wire, request)) is not None:
            return refused
        body = await json_body(request)
        if body is NOT_JSON:
            return _invalid("The request body is not valid JSON.")
        lines = _lines(body)
        if isinstance(lines, str):
            return _invalid(lines)
        batch = self.book.create("msgbatch_", request.path_params["provider"], self.wire, lines)
        return JSONResponse(_batch_object(batch, _root(request)))

    async def retrieve(self, request: Request) -> Response:
        batch = self._batch(request)
        if isinstance(batch, Response):
            return batch
        return JSONResponse(_batch_object(batch, _root(request)))

    async def cancel(self, request: Request) -> Response:
        if (refused := refusal(self.wire, request)) is not None:
            return refused
        batch = self.book.cancel(request.path_params["batch_id"], request.path_params["provider"])
        if batch is None:
            return _not_found(request.path_params["batch_id"])
        return JSONResponse(_batch_object(batch, _root(request)))

    async def results(self, request: Request) -> Response:
        batch = self._batch(request)
        if isinstance(batch, Response):
            return batch
        if batch.ended_at is None:
            return _invalid(f"Batch {batch.id} has not ended yet: its results are not ready.")
        text = "".join(json.dumps(_result_line(result)) + "\n" for result in batch.results)
        return Response(text, media_type="application/binary")

    def _batch(self, request: Request) -> EmulatedBatch | Response:
        if (refused := refusal(self.wire, request)) is not None:
            return refused
        batch = self.book.get(request.path_params["batch_id"], request.path_params["provider"])
        return _not_found(request.path_params["batch_id"]) if batch is None else batch


def _not_found(batch_id: str) -> Response:
    message = f"No message batch with id {batch_id!r}."
    return respond(anthropic_error_answer(404, "not_found_error", message))


def _root(request: Request) -> str:
    """The provider's base URL as the client reached it (results_url points under it)."""
    url = str(request.url)
    return url[: url.index(_PATH)]


def _lines(body: Any) -> list[LineSpec] | str:
    """The requests as lines, or the message of the 400 that refuses the batch."""
    requests = body.get("requests") if isinstance(body, dict) else None
    if not isinstance(requests, list) or not requests:
        return "requests: give a list of at least one request"
    lines: list[LineSpec] = []
    seen: set[str] = set()
    for index, item in enumerate(requests):
        custom_id = item.get("custom_id") if isinstance(item, dict) else None
        if not isinstance(custom_id, str) or not _CUSTOM_ID.match(custom_id):
            return f"requests.{index}.custom_id: must match ^[a-zA-Z0-9_-]{{1,64}}$"
        if custom_id in seen:
            return f"requests.{index}.custom_id: {custom_id!r} is used more than once"
        if not isinstance(item.get("params"), dict):
            return f"requests.{index}.params: Field required"
        seen.add(custom_id)
        lines.append(LineSpec(custom_id, json.dumps(item["params"]).encode()))
    return lines


def _batch_object(batch: EmulatedBatch, root: str) -> dict[str, Any]:
    counts = {"processing": 0, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
    for result in batch.results:
        counts[_result_type(result)] += 1
    counts["processing"] = len(batch.lines) - len(batch.results)
    status = "in_progress"
    if batch.ended_at is not None:
        status = "ended"
    elif batch.cancel_requested_at is not None:
        status = "canceling"
    return {
        "id": batch.id,
        "type": "message_batch",
        "processing_status": status,
        "request_counts": counts,
        "created_at": rfc3339(batch.created),
        "expires_at": rfc3339(batch.created + _WINDOW_S),
        "ended_at": rfc3339(batch.ended_at) if batch.ended_at is not None else None,
        "cancel_initiated_at": rfc3339(batch.cancel_requested_at)
        if batch.cancel_requested_at is not None else None,
        "archived_at": None,
        "results_url": f"{root}{_PATH}/{batch.id}/results" if batch.ended_at is not None
        else None,
    }


def _result_type(result: LineResult) -> str:
    if result.answer is None:
        return "canceled" if result.end == "cancelled" else "expired"
    return "succeeded" if 200 <= result.answer.status < 300 else "errored"


def _result_line(result: LineResult) -> dict[str, Any]:
    kind = _result_type(result)
    outcome: dict[str, Any] = {"type": kind}
    if kind == "succeeded" and result.answer is not None:
        outcome["message"] = dict(result.answer.body)
    elif kind == "errored" and result.answer is not None:
        outcome["error"] = dict(result.answer.body)
    return {"custom_id": result.custom_id, "result": outcome}
