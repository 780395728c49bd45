"""OpenAI's Files and Batch API as the emulator serves them: ``POST /v1/files`` (multipart,
purpose ``batch``), ``GET /v1/files/{id}`` and ``/content``, ``POST /v1/batches``,
``GET /v1/batches/{id}``, ``POST /v1/batches/{id}/cancel``; with a webhook set, the event
OpenAI sends when a batch ends (batches_webhooks.py).

Answers are openai-python's ``FileObject`` and ``Batch`` (tests/adapters/emulator checks them
with those types). A batch whose input file has a line that is not a request object, names
another endpoint or repeats a custom_id is ``failed`` with one error per such line, as the
API reports them; otherwise every line runs as a chat completion (batches_engine.py). At the
end the 2xx answers go to the output file and every other line to the error file, an
expired or cancelled one with ``batch_expired`` / ``batch_cancelled``.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from adapters.emulator.batches_engine import BatchBook, EmulatedBatch, LineSpec, new_id
from adapters.emulator.batches_http import NOT_JSON, json_body, refusal, respond
from adapters.emulator.batches_webhooks import BatchWebhooks
from adapters.emulator.openai_wire import OpenAIWire, error_answer

__all__ = ["OpenAIBatches"]

_ENDPOINT = "/v1/chat/completions"
_WINDOW_S = 24 * 3600
_NEVER_RUN = {
    "expired": ("batch_expired", "This request could not be executed before the completion "
                "window expired."),
    "cancelled": ("batch_cancelled", "This request was not executed because the batch was "
                  "cancelled."),
}



def _not_found(what: str, name: str) -> Response:
    return respond(error_answer(404, f"No {what} found with id '{name}'.", code="not_found"))


class OpenAIBatches:
    """The endpoint functions, bound to one app's batch book."""

    def __init__(self, book: BatchBook) -> None:
        self.book = book
        self.wire = OpenAIWire()
        self.webhooks = BatchWebhooks(book)

    async def upload(self, request: Request) -> Response:
        if (refused := refusal(self.wire, request)) is not None:
            return refused
        form = await request.form()
        upload, purpose = form.get("file"), form.get("purpose")
        if purpose != "batch" or upload is None or isinstance(upload, str):
            message = "Send a multipart body with a 'file' and purpose 'batch'."
            return respond(error_answer(400, message, param="purpose"))
        stored = self.book.add_file(upload.filename or "upload.jsonl", purpose, await upload.read())
        return JSONResponse(self._file_object(stored.id))

    async def file(self, request: Request) -> Response:
        if (refused := refusal(self.wire, request)) is not None:
            return refused
        file_id = request.path_params["file_id"]
        if file_id not in self.book.files:
            return _not_found("file", file_id)
        return JSONResponse(self._file_object(file_id))

    async def content(self, request: Request) -> Response:
        if (refused := refusal(self.wire, request)) is not None:
            return refused
        stored = self.book.files.get(request.path_params["file_id"])
        if stored is None:
            return _not_found("file", request.path_params["file_id"])
        return Response(stored.content, media_type="application/octet-stream")

    async def create(self, request: Request) -> Response:
        if (refused := refusal(self.wire, request)) is not None:
            return refused
        body = await json_body(request)
        if body is NOT_JSON:
            return respond(error_answer(400, "We could not parse the JSON body of your request."))
        problem = _create_problem(body, self.book)
        if problem is not None:
            return respond(error_answer(400, problem[1], param=problem[0]))
        stored = self.book.files[body["input_file_id"]]
        lines, errors = _read_input(stored.content)
        failure = f"{len(errors)} input line(s) refused" if errors else None
        batch = self.book.create("batch_", request.path_params["provider"], self.wire, lines,
                                 failure)
        batch.extra.update(input_file_id=stored.id, metadata=body.get("metadata"), errors=errors)
        self.webhooks.watch(batch)
        return JSONResponse(self._batch_object(batch))

    async def retrieve(self, request: Request) -> Response:
        if (refused := refusal(self.wire, request)) is not None:
            return refused
        batch = self.book.get(request.path_params["batch_id"], request.path_params["provider"])
        if batch is None:
            return _not_found("batch", request.path_params["batch_id"])
        return JSONResponse(self._batch_object(batch))

    async def cancel(self, request: Request) -> Response:
        if (refused := refusal(self.wire, request)) is not None:
            return refused
        batch = self.book.cancel(request.path_params["batch_id"], request.path_params["provider"])
        if batch is None:
            return _not_found("batch", request.path_params["batch_id"])
        return JSONResponse(self._batch_object(batch))

    # --- bodies ---------------------------------------------------------------------------

    def _file_object(self, file_id: str) -> dict[str, Any]:
        stored = self.book.files[file_id]
        return {
            "id": stored.id,
            "object": "file",
            "bytes": len(stored.content),
            "created_at": stored.created,
            "filename": stored.filename,
            "purpose": stored.purpose,
            "status": "processed",
        }

    def _batch_object(self, batch: EmulatedBatch) -> dict[str, Any]:
        created = int(batch.created)
        meta = batch.extra
        body: dict[str, Any] = {
            "id": batch.id,
            "object": "batch",
            "endpoint": _ENDPOINT,
            "input_file_id": meta.get("input_file_id", ""),
            "completion_window": "24h",
            "created_at": created,
            "expires_at": created + _WINDOW_S,
            "metadata": meta.get("metadata"),
            "errors": None,
            "output_file_id": None,
            "error_file_id": None,
        }
        if batch.failure is not None:
            body.update(status="failed", failed_at=created,
                        errors={"object": "list", "data": meta["errors"]},
                        request_counts={"total": 0, "completed": 0, "failed": 0})
            return body
        body.update(_progress(batch), in_progress_at=created)
        if batch.cancel_requested_at is not None:
            body["cancelling_at"] = int(batch.cancel_requested_at)
        if batch.ended_at is not None:
            self._write_results(batch, body)
        return body

    def _write_results(self, batch: EmulatedBatch, body: dict[str, Any]) -> None:
        ended = int(batch.ended_at or batch.created)
        status = str(batch.ending)
        body["status"] = status
        body[{"completed": "completed_at", "expired": "expired_at",
              "cancelled": "cancelled_at"}[status]] = ended
        output, errors = _result_lines(batch)
        for name, lines in (("output_file_id", output), ("error_file_id", errors)):
            if not lines:
                continue
            if name not in batch.extra:
                content = "".join(line + "\n" for line in lines).encode()
                stored = self.book.add_file(f"{batch.id}_{name}.jsonl", "batch_output", content)
                batch.extra[name] = stored.id
            body[name] = batch.extra[name]


def _create_problem(body: Any, book: BatchBook) -> tuple[str, str] | None:
    """The parameter and message of the 400 a create call gets, or None."""
    if not isinstance(body, dict):
        return ("body", "The body must be a JSON object.")
    file_id = body.get("input_file_id")
    if not isinstance(file_id, str) or file_id not in book.files:
        return ("input_file_id", f"No file found with id {file_id!r}.")
    if body.get("endpoint") != _ENDPOINT:
        return ("endpoint", f"The emulator serves batches of {_ENDPOINT} only.")
    if body.get("completion_window") != "24h":
        return ("completion_window", "Only a completion_window of '24h' is supported.")
    return None


def _read_input(content: bytes) -> tuple[list[LineSpec], list[dict[str, Any]]]:
    """The input file's lines, and an error (code, message, line) for each bad one."""
    lines: list[LineSpec] = []
    errors: list[dict[str, Any]] = []
    seen: set[str] = set()
    for number, text in enumerate(content.decode("utf-8", "replace").splitlines(), 1):
        if not text.strip():
            continue
        problem = _line_problem(text, seen)
        if isinstance(problem, LineSpec):
            lines.append(problem)
            seen.add(problem.custom_id)
        else:
            errors.append({"code": problem[0], "message": problem[1], "param": None,
                           "line": number})
    if not lines and not errors:
        errors.append({"code": "empty_file", "message": "The input file has no requests.",
                       "param": None, "line": None})
    return lines, errors


def _line_problem(text: str, seen: set[str]) -> LineSpec | tuple[str, str]:
    try:
        line = json.loads(text)
    except ValueError:
        return ("invalid_json", "This line is not valid JSON.")
    if not isinstance(line, dict) or not isinstance(line.get("body"), dict):
        return ("invalid_request", "Each line needs custom_id, method, url and a body object.")
    custom_id = line.get("custom_id")
    if not isinstance(custom_id, str) or not custom_id:
        return ("missing_custom_id", "Each line needs a custom_id string.")
    if custom_id in seen:
        return ("duplicate_custom_id", f"The custom_id {custom_id!r} is used more than once.")
    if line.get("method") != "POST" or line.get("url") != _ENDPOINT:
        return ("invalid_url", f"Each line must POST to {_ENDPOINT}, the batch's endpoint.")
    return LineSpec(custom_id, json.dumps(line["body"]).encode())


def _progress(batch: EmulatedBatch) -> dict[str, Any]:
    ok = batch.answered(200, 300)
    failed = len(batch.results) - ok
    status = "cancelling" if batch.cancel_requested_at is not None else "in_progress"
    return {"status": status,
            "request_counts": {"total": len(batch.lines), "completed": ok, "failed": failed}}


def _result_lines(batch: EmulatedBatch) -> tuple[list[str], list[str]]:
    """The output file's lines (2xx answers) and the error file's (everything else)."""
    output: list[str] = []
    errors: list[str] = []
    for result in batch.results:
        line: dict[str, Any] = {"id": new_id("batch_req_", batch.id, result.custom_id),
                                "custom_id": result.custom_id, "response": None, "error": None}
        if result.answer is not None:
            line["response"] = {
                "status_code": result.answer.status,
                "request_id": new_id("req_", batch.id, result.custom_id),
                "body": dict(result.answer.body),
            }
        else:
            code, message = _NEVER_RUN[result.end]
            line["error"] = {"code": code, "message": message}
        ok = result.answer is not None and 200 <= result.answer.status < 300
        (output if ok else errors).append(json.dumps(line))
    return output, errors
