"""A provider batch's HTTP calls over httpx, through the pure batch adapters
(adapters/batch_api/): submit its lines, read its status, read its results, cancel it.

The OpenAI (Files API + Batch API), Anthropic (Message Batches) and Gemini (inline
batchGenerateContent) wire formats are driven; a provider of another wire format has no batch
API here (``batch_api_for`` answers None) and its parked jobs fall back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

import httpx

from adapters.base import AdapterTarget, HttpCall
from adapters.batch_api import anthropic as anthropic_batch
from adapters.batch_api import gemini as gemini_batch
from adapters.batch_api import openai as openai_batch
from adapters.batch_api.outcomes import BatchItem, BatchStatus, LineOutcome
from adapters.errors import ServerError

__all__ = [
    "AnthropicBatchApi",
    "BatchApi",
    "GeminiBatchApi",
    "OpenAIBatchApi",
    "batch_api_for",
    "line_size",
]




class BatchApi(Protocol):
    def submit(self, items: Sequence[BatchItem], metadata: Mapping[str, str]) -> str: ...

    def status(self, batch_id: str) -> BatchStatus: ...

    def results(self, custom_ids: Sequence[str], status: BatchStatus) -> list[LineOutcome]: ...

    def cancel(self, batch_id: str) -> None: ...


def _send(client: httpx.Client, call: HttpCall) -> bytes:
    body = dict(call.json) if call.method == "POST" and call.json else None
    response = client.request(call.method, call.url, headers=dict(call.headers), json=body)
    if response.status_code >= 300:
        raise ServerError(f"{call.method} {call.url} answered {response.status_code}")
    return response.content


class OpenAIBatchApi:
    """OpenAI's files and batches for one (target, key)."""

    def __init__(self, client: httpx.Client, target: AdapterTarget, api_key: str) -> None:
        self.client = client
        self.target = target
        self.api_key = api_key

    def submit(self, items: Sequence[BatchItem], metadata: Mapping[str, str]) -> str:
        lines = openai_batch.input_lines(items, self.target)
        upload = openai_batch.upload_call(lines, self.target, self.api_key)
        uploaded = self.client.post(
            upload.url,
            headers=dict(upload.headers),
            data=dict(upload.fields),
            files={"file": (upload.filename, upload.content)},
        )
        if uploaded.status_code >= 300:
            raise ServerError(f"the input file upload answered {uploaded.status_code}")
        file_id = str(uploaded.json()["id"])
        create = openai_batch.create_call(file_id, self.target, self.api_key, metadata)
        return openai_batch.parse_status(_send(self.client, create)).batch_id

    def status(self, batch_id: str) -> BatchStatus:
        call = openai_batch.status_call(batch_id, self.target, self.api_key)
        return openai_batch.parse_status(_send(self.client, call))

    def results(self, custom_ids: Sequence[str], status: BatchStatus) -> list[LineOutcome]:
        files = [
            _send(self.client, openai_batch.file_content_call(file_id, self.target, self.api_key))
            for file_id in status.results
        ]
        return openai_batch.parse_results(custom_ids, status, files, self.target)

    def cancel(self, batch_id: str) -> None:
        _send(self.client, openai_batch.cancel_call(batch_id, self.target, self.api_key))


class AnthropicBatchApi:
    """Anthropic's Message Batches for one (target, key): the requests go in the create body."""

    def __init__(self, client: httpx.Client, target: AdapterTarget, api_key: str) -> None:
        self.client = client
        self.target = target
        self.api_key = api_key

    def submit(self, items: Sequence[BatchItem], metadata: Mapping[str, str]) -> str:
        create = anthropic_batch.create_call(items, self.target, self.api_key)
        return anthropic_batch.parse_status(_send(self.client, create)).batch_id

    def status(self, batch_id: str) -> BatchStatus:
        call = anthropic_batch.status_call(batch_id, self.target, self.api_key)
        return anthropic_batch.parse_status(_send(self.client, call))

    def results(self, custom_ids: Sequence[str], status: BatchStatus) -> list[LineOutcome]:
        content = b"".join(
            _send(self.client, anthropic_batch.results_call(url, self.api_key))
            for url in status.results
        )
        return anthropic_batch.parse_results(custom_ids, status, content, self.target)

    def cancel(self, batch_id: str) -> None:
        _send(self.client, anthropic_batch.cancel_call(batch_id, self.target, self.api_key))


class GeminiBatchApi:
    """Gemini's inline batch mode for one (target, key): the answers come in the Operation."""

    def __init__(self, client: httpx.Client, target: AdapterTarget, api_key: str) -> None:
        self.client = client
        self.target = target
        self.api_key = api_key

    def submit(self, items: Sequence[BatchItem], metadata: Mapping[str, str]) -> str:
        name = metadata.get("cascade_record", "cascade")
        create = gemini_batch.create_call(items, self.target, self.api_key, name)
        return gemini_batch.parse_status(_send(self.client, create)).batch_id

    def _operation(self, batch_id: str) -> bytes:
        return _send(self.client, gemini_batch.status_call(batch_id, self.target, self.api_key))

    def status(self, batch_id: str) -> BatchStatus:
        return gemini_batch.parse_status(self._operation(batch_id))

    def results(self, custom_ids: Sequence[str], status: BatchStatus) -> list[LineOutcome]:
        body = self._operation(status.batch_id)
        return gemini_batch.parse_outcomes(custom_ids, body, self.target)

    def cancel(self, batch_id: str) -> None:
        _send(self.client, gemini_batch.cancel_call(batch_id, self.target, self.api_key))


def batch_api_for(
    wire_format: str, client: httpx.Client, target: AdapterTarget, api_key: str
) -> BatchApi | None:
    if wire_format == "openai":
        return OpenAIBatchApi(client, target, api_key)
    if wire_format == "anthropic":
        return AnthropicBatchApi(client, target, api_key)
    if wire_format == "gemini":
        return GeminiBatchApi(client, target, api_key)
    return None


def line_size(wire_format: str, item: BatchItem, target: AdapterTarget) -> int | None:
    """The line's bytes in its provider batch's input (None: no batch API for the wire
    format); raises the adapter's InvalidRequest for a line it refuses."""
    if wire_format == "openai":
        return openai_batch.line_sizes(openai_batch.input_lines([item], target))[0]
    if wire_format == "anthropic":
        return anthropic_batch.line_sizes([item], target)[0]
    if wire_format == "gemini":
        return gemini_batch.line_sizes([item])[0]
    return None
