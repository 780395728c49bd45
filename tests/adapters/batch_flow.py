"""Driving a provider batch through the emulator with the pure batch adapters, as the later
poller will: build the input, create, poll until ended, read the results. The client is a
starlette TestClient (in process) or an httpx.Client (over real HTTP); both take the same
calls."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from adapters.base import AdapterTarget, HttpCall
from adapters.batch_api import anthropic as anthropic_batch
from adapters.batch_api import gemini as gemini_batch
from adapters.batch_api import openai as openai_batch
from adapters.batch_api.outcomes import BatchItem, BatchStatus, LineOutcome

__all__ = ["Client", "send", "run_anthropic", "run_gemini", "run_openai"]

KEY = "sk-test"


class _Response(Protocol):
    status_code: int
    content: bytes

    def json(self) -> Any: ...


# starlette's TestClient and httpx.Client: their request signatures differ in detail only
Client = Any


def send(client: Client, call: HttpCall) -> _Response:
    body = dict(call.json) if call.method == "POST" else None
    response: _Response = client.request(call.method, call.url, headers=dict(call.headers),
                                         json=body)
    assert response.status_code < 300, response.content
    return response


Call = Callable[[str, AdapterTarget, str], HttpCall]


def _create_and_wait(
    client: Client,
    create: HttpCall,
    calls: tuple[Callable[[bytes], BatchStatus], Call, Call],
    target: AdapterTarget,
    tick: Callable[[], None],
    cancel: Callable[[], None] | None,
) -> tuple[BatchStatus, bytes]:
    """Create the batch, cancel it if asked (after ``cancel()``), poll it until it ends."""
    parse, status_call, cancel_call = calls
    batch_id = parse(send(client, create).content).batch_id
    if cancel is not None:
        cancel()  # e.g. move the clock: the cancel arrives after that
        send(client, cancel_call(batch_id, target, KEY))
    for _ in range(200):
        body = send(client, status_call(batch_id, target, KEY)).content
        status = parse(body)
        if status.state == "ended":
            return status, body
        tick()
    raise AssertionError("the provider batch did not end")


def run_openai(
    client: Client,
    items: Sequence[BatchItem],
    target: AdapterTarget,
    tick: Callable[[], None],
    cancel: Callable[[], None] | None = None,
) -> list[LineOutcome]:
    upload = openai_batch.upload_call(openai_batch.input_lines(items, target), target, KEY)
    uploaded = client.post(upload.url, headers=dict(upload.headers), data=dict(upload.fields),
                           files={"file": (upload.filename, upload.content)})
    assert uploaded.status_code == 200, uploaded.content
    create = openai_batch.create_call(uploaded.json()["id"], target, KEY, None)
    calls = (openai_batch.parse_status, openai_batch.status_call, openai_batch.cancel_call)
    status, _ = _create_and_wait(client, create, calls, target, tick, cancel)
    files = [send(client, openai_batch.file_content_call(file_id, target, KEY)).content
             for file_id in status.results]
    return openai_batch.parse_results([i.custom_id for i in items], status, files, target)


def run_anthropic(
    client: Client,
    items: Sequence[BatchItem],
    target: AdapterTarget,
    tick: Callable[[], None],
    cancel: Callable[[], None] | None = None,
) -> list[LineOutcome]:
    create = anthropic_batch.create_call(items, target, KEY)
    calls = (anthropic_batch.parse_status, anthropic_batch.status_call,
             anthropic_batch.cancel_call)
    status, _ = _create_and_wait(client, create, calls, target, tick, cancel)
    content = send(client, anthropic_batch.results_call(status.results[0], KEY)).content
    return anthropic_batch.parse_results([i.custom_id for i in items], status, content, target)


def run_gemini(
    client: Client,
    items: Sequence[BatchItem],
    target: AdapterTarget,
    tick: Callable[[], None],
    cancel: Callable[[], None] | None = None,
) -> list[LineOutcome]:
    create = gemini_batch.create_call(items, target, KEY, "cascade-test")
    calls = (gemini_batch.parse_status, gemini_batch.status_call, gemini_batch.cancel_call)
    _, body = _create_and_wait(client, create, calls, target, tick, cancel)
    return gemini_batch.parse_outcomes([i.custom_id for i in items], body, target)
