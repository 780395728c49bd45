"""OpenAI's Batch API: a JSONL input file uploaded through the Files API (purpose ``batch``),
a batch made of it, its status polled, its output and error files read back.

Each input line is ``{"custom_id", "method": "POST", "url": "/v1/chat/completions", "body"}``,
the body exactly what the synchronous adapter would send (less ``stream``, which a batch
refuses). Each output line is ``{"id", "custom_id", "response": {"status_code", "request_id",
"body"}, "error"}``: a 2xx body is read by the synchronous parser, any other by its error table;
a line without a response carries ``error.code`` (``batch_expired``, ``batch_cancelled``).

Sources: openai-python ``types/batch.py`` (statuses validating, failed, in_progress,
finalizing, completed, expired, cancelling, cancelled), ``types/batch_create_params.py``
(input file of up to 50,000 requests and 200 MB, ``completion_window`` "24h"),
``types/file_object.py``, and https://platform.openai.com/docs/guides/batch.
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
    FileUpload,
    LineOutcome,
    LineState,
    check_custom_ids,
    complete_outcomes,
)
from adapters.errors import ProviderError, ServerError
from adapters.http_response import read_json_object
from adapters.openai_chat import OpenAIChatAdapter

__all__ = [
    "ENDPOINT",
    "cancel_call",
    "create_call",
    "file_content_call",
    "input_lines",
    "line_sizes",
    "parse_results",
    "parse_status",
    "status_call",
    "upload_call",
]

ENDPOINT = "/v1/chat/completions"
_ADAPTER = OpenAIChatAdapter()
_STATES: Mapping[str, BatchState] = {
    "validating": "running",
    "in_progress": "running",
    "finalizing": "running",
    "cancelling": "cancelling",
    "completed": "ended",
    "expired": "ended",
    "cancelled": "ended",
    "failed": "ended",
}
# error codes of output lines that never ran, documented for expiry and cancellation
_NOT_RUN: Mapping[str, LineState] = {"batch_expired": "expired", "batch_cancelled": "cancelled"}


def _headers(api_key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"}


def _root(target: AdapterTarget) -> str:
    return target.base_url.rstrip("/")


def input_lines(items: Sequence[BatchItem], target: AdapterTarget) -> list[str]:
    """The JSONL lines of the input file, one per item, in order (InvalidRequest for a line
    the synchronous adapter refuses, or a custom_id the provider would)."""
    check_custom_ids(items)
    lines: list[str] = []
    for item in items:
        body = dict(_ADAPTER.build_request(item.request, target, "").json)
        body.pop("stream", None)
        line = {"custom_id": item.custom_id, "method": "POST", "url": ENDPOINT, "body": body}
        lines.append(json.dumps(line, separators=(",", ":"), ensure_ascii=False))
    return lines


def line_sizes(lines: Sequence[str]) -> list[int]:
    """Each input line's bytes in the uploaded file, its newline included (for
    routing.offload.group_lines, against the provider's byte limit)."""
    return [len(line.encode()) + 1 for line in lines]


def upload_call(lines: Sequence[str], target: AdapterTarget, api_key: str) -> FileUpload:
    """``POST /files`` with the lines as a .jsonl file of purpose ``batch``."""
    content = "".join(line + "\n" for line in lines).encode()
    return FileUpload(
        url=f"{_root(target)}/files",
        headers=_headers(api_key),
        filename="cascade-batch.jsonl",
        content=content,
        fields={"purpose": "batch"},
    )


def create_call(
    input_file_id: str, target: AdapterTarget, api_key: str, metadata: Mapping[str, str] | None
) -> HttpCall:
    """``POST /batches`` for an uploaded input file."""
    body: dict[str, Any] = {
        "input_file_id": input_file_id,
        "endpoint": ENDPOINT,
        "completion_window": "24h",
    }
    if metadata:
        body["metadata"] = dict(metadata)
    headers = {**_headers(api_key), "Content-Type": "application/json"}
    return HttpCall(method="POST", url=f"{_root(target)}/batches", headers=headers, json=body)


def status_call(batch_id: str, target: AdapterTarget, api_key: str) -> HttpCall:
    return HttpCall("GET", f"{_root(target)}/batches/{batch_id}", _headers(api_key), {})


def cancel_call(batch_id: str, target: AdapterTarget, api_key: str) -> HttpCall:
    return HttpCall("POST", f"{_root(target)}/batches/{batch_id}/cancel", _headers(api_key), {})


def file_content_call(file_id: str, target: AdapterTarget, api_key: str) -> HttpCall:
    return HttpCall("GET", f"{_root(target)}/files/{file_id}/content", _headers(api_key), {})


def parse_status(body: bytes) -> BatchStatus:
    """A Batch object; ServerError when the body is not one."""
    batch = read_json_object(body)
    if batch is None or not isinstance(batch.get("id"), str) or batch.get("object") != "batch":
        raise ServerError("the answer is not a Batch object")
    status = str(batch.get("status"))
    if status not in _STATES:
        raise ServerError(f"the Batch has an unknown status {status!r}")
    counts = batch.get("request_counts") or {}
    results = tuple(
        file_id
        for file_id in (batch.get("output_file_id"), batch.get("error_file_id"))
        if isinstance(file_id, str) and file_id
    )
    return BatchStatus(
        batch_id=batch["id"],
        state=_STATES[status],
        provider_status=status,
        results=results,
        failure=_failure(batch) if status == "failed" else None,
        done=_count(counts, "completed") + _count(counts, "failed") if counts else None,
        total=_count(counts, "total") if counts else None,
    )


def _count(counts: Mapping[str, Any], name: str) -> int:
    value = counts.get(name)
    return value if isinstance(value, int) else 0


def _failure(batch: Mapping[str, Any]) -> str:
    errors = (batch.get("errors") or {}).get("data") or []
    texts = [
        (f"line {error['line']}: " if error.get("line") is not None else "")
        + f"{error.get('code')}: {error.get('message')}"
        for error in errors
        if isinstance(error, dict)
    ]
    return "; ".join(texts) or "the provider gave no reason"


def parse_results(
    custom_ids: Sequence[str],
    status: BatchStatus,
    files: Sequence[bytes],
    target: AdapterTarget,
) -> list[LineOutcome]:
    """One outcome per custom_id from the output and error files' contents (either order)."""
    found: dict[str, LineOutcome] = {}
    for content in files:
        for number, text in enumerate(content.decode("utf-8", "replace").splitlines(), 1):
            if not text.strip():
                continue
            line = read_json_object(text.encode())
            if line is None or not isinstance(line.get("custom_id"), str):
                raise ServerError(f"results line {number} is not a batch output object")
            found[line["custom_id"]] = _outcome(line, target)
    return complete_outcomes(custom_ids, found, status)


def _outcome(line: Mapping[str, Any], target: AdapterTarget) -> LineOutcome:
    custom_id: str = line["custom_id"]
    response = line.get("response")
    if isinstance(response, dict) and isinstance(response.get("status_code"), int):
        code: int = response["status_code"]
        body = json.dumps(response.get("body")).encode()
        if 200 <= code < 300:
            try:
                answer = _ADAPTER.parse_response(code, {}, body, target)
            except ProviderError as exc:
                return LineOutcome(custom_id, "errored", error=exc)
            return LineOutcome(custom_id, "succeeded", answer=answer)
        return LineOutcome(custom_id, "errored", error=_ADAPTER.classify_error(code, {}, body))
    raw = line.get("error")
    error: Mapping[str, Any] = raw if isinstance(raw, dict) else {}
    code_name = str(error.get("code"))
    if code_name in _NOT_RUN:
        return LineOutcome(custom_id, _NOT_RUN[code_name])
    message = f"{code_name}: {error.get('message')}"
    return LineOutcome(custom_id, "errored", error=ServerError(message))
