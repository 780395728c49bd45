"""What every provider batch module hands back: the calls to make, a batch's status, and one
outcome per line, whatever the provider's own words for them.

A line's outcome is a chat.completion (``ParsedResponse``, read by the synchronous adapter's
own parser, so a batch answer and a synchronous answer read alike) or a ``ProviderError`` from
the synchronous adapter's error table, or a state that says the provider never ran it
(expired, cancelled) or has not yet (unfinished). Every line asked for gets exactly one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from adapters.base import ParsedResponse
from adapters.errors import InvalidRequest, ProviderError, ServerError
from broker.jobs import CompletionRequest

__all__ = [
    "BatchItem",
    "BatchState",
    "BatchStatus",
    "FileUpload",
    "LineOutcome",
    "LineState",
    "check_custom_ids",
    "complete_outcomes",
    "json_size",
]

LineState = Literal["succeeded", "errored", "expired", "cancelled", "unfinished"]
# running: the provider is still at it (or validating); cancelling: asked to stop, not yet
# stopped; ended: no line will change any more, the results can be read
BatchState = Literal["running", "cancelling", "ended"]

# Anthropic's documented custom_id pattern, the strictest of the three; cascade holds every
# provider to it so a line id never needs translating.
_CUSTOM_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass(frozen=True, slots=True)
class BatchItem:
    """One line of a provider batch: the id it comes back under and the request."""

    custom_id: str
    request: CompletionRequest


@dataclass(frozen=True, slots=True)
class FileUpload:
    """A multipart/form-data upload (OpenAI's Files API): ``fields`` go beside the file.
    ``headers`` hold the API key: never log them."""

    url: str
    headers: Mapping[str, str]
    filename: str
    content: bytes
    fields: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class BatchStatus:
    """A provider batch as its status object tells it."""

    batch_id: str
    state: BatchState
    provider_status: str  # the provider's own word: completed, expired, ended, ...
    # where the results are to be read: file ids (OpenAI: output, then error) or a URL
    results: tuple[str, ...] = ()
    # the whole batch failed (OpenAI ``failed``, Gemini ``BATCH_STATE_FAILED``): why
    failure: str | None = None
    # lines the provider says are done (answered or failed) and in all, where it counts them
    done: int | None = None
    total: int | None = None


@dataclass(frozen=True, slots=True)
class LineOutcome:
    custom_id: str
    state: LineState
    answer: ParsedResponse | None = None
    error: ProviderError | None = None


def check_custom_ids(items: Sequence[BatchItem]) -> None:
    """InvalidRequest naming the first line whose custom_id is malformed or repeated: the
    providers refuse both, and a repeat would make two lines' answers indistinguishable."""
    seen: set[str] = set()
    if not items:
        raise InvalidRequest("a provider batch needs at least one line")
    for index, item in enumerate(items):
        if not _CUSTOM_ID.match(item.custom_id):
            raise InvalidRequest(
                f"lines[{index}].custom_id: {item.custom_id[:80]!r} must be 1 to 64 characters "
                "of A-Z, a-z, 0-9, '_' and '-'"
            )
        if item.custom_id in seen:
            raise InvalidRequest(f"lines[{index}].custom_id: {item.custom_id!r} is repeated")
        seen.add(item.custom_id)


def complete_outcomes(
    custom_ids: Iterable[str], found: Mapping[str, LineOutcome], status: BatchStatus
) -> list[LineOutcome]:
    """One outcome per line asked for, in that order: the one found in the results, else what
    the batch's end says of a line it never reported (expired or cancelled; failed with the
    batch's failure as a ServerError; unfinished while the batch runs)."""
    outcomes: list[LineOutcome] = []
    for custom_id in custom_ids:
        outcome = found.get(custom_id)
        if outcome is None:
            outcome = _unreported(custom_id, status)
        outcomes.append(outcome)
    return outcomes


def _unreported(custom_id: str, status: BatchStatus) -> LineOutcome:
    if status.state != "ended":
        return LineOutcome(custom_id, "unfinished")
    if status.failure is not None:
        # the batch as a whole was refused (its input, not a request): the line may go elsewhere
        failure = ServerError(f"the provider batch failed: {status.failure}")
        return LineOutcome(custom_id, "errored", error=failure)
    if "cancel" in status.provider_status.lower():
        return LineOutcome(custom_id, "cancelled")
    # ended without a word about the line: the provider ran out of its window
    return LineOutcome(custom_id, "expired")


def json_size(value: object) -> int:
    """Bytes of ``value`` as JSON with the default separators and ASCII escapes: never fewer
    than an HTTP client sends (httpx writes compact JSON), so a batch sized by it fits."""
    return len(json.dumps(value).encode())
