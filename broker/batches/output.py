"""A batch's output and errors files as OpenAI's batch output lines.

Each line is ``{"id", "custom_id", "response": {"status_code", "request_id", "body"}, "error"}``
(https://platform.openai.com/docs/api-reference/batch/request-output): successes go to the output
file, failures (cancelled jobs included) to the errors file, both in submission order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from broker.batches.records import CANCELLED
from broker.jobs import CompletionResult, FailedResult

__all__ = ["output_line", "output_lines"]

_Result = CompletionResult | FailedResult


def output_line(job_id: str, custom_id: str, result: _Result) -> dict[str, Any]:
    """One line of the output file (a success) or of the errors file (a failure)."""
    line_id = f"batch_req_{job_id}"
    if isinstance(result, CompletionResult):
        response = {
            "status_code": 200,
            "request_id": job_id,
            "body": result.model_dump(mode="json"),
        }
        return {"id": line_id, "custom_id": custom_id, "response": response, "error": None}
    code = "batch_cancelled" if result.error_class == CANCELLED else result.error_class
    error = {"code": code, "message": result.error_message}
    return {"id": line_id, "custom_id": custom_id, "response": None, "error": error}


def output_lines(
    pages: Iterable[Sequence[tuple[str, str]]],
    results: Callable[[Sequence[str]], Mapping[str, _Result]],
    *,
    errors: bool = False,
) -> Iterator[dict[str, Any]]:
    """The output (or, with ``errors``, the errors) file's lines for pages of (job id, custom id).

    ``results`` reads a page's final results at once; a job without one is in neither file yet.
    """
    for page in pages:
        found = results([job_id for job_id, _ in page])
        for job_id, custom_id in page:
            result = found.get(job_id)
            if result is not None and isinstance(result, FailedResult) == errors:
                yield output_line(job_id, custom_id, result)
