"""A provider batch's HTTP calls over httpx, through the pure batch adapters
(adapters/batch_api/): submit its lines, read its status, read its results, cancel it.

Only the OpenAI wire format (Files API + Batch API) is driven so far; a provider of another wire
format is never offered to the poller (``batch_api_for`` answers None) and its jobs fall back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

import httpx

from adapters.base import AdapterTarget, HttpCall
from adapters.batch_api import openai as openai_batch
from adapters.batch_api.outcomes import BatchItem, BatchStatus, LineOutcome
from adapters.errors import ServerError

__all__ = ["BatchApi", "OpenAIBatchApi", "batch_api_for"]


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


def batch_api_for(
    wire_format: str, client: httpx.Client, target: AdapterTarget, api_key: str
) -> BatchApi | None:
    if wire_format == "openai":
        return OpenAIBatchApi(client, target, api_key)
    return None
