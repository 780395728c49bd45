"""The emulator announces an OpenAI batch's end as OpenAI does: a POST to the webhook URL set
for its batches, which openai-python's own verifier accepts (``client.webhooks.unwrap``), tried
again with the same ``webhook-id`` when the receiver does not answer 2xx; a batch made without
a webhook sends nothing. The receiver is a real HTTP server on loopback.

Format: platform.openai.com/docs/guides/webhooks (Standard Webhooks headers) and openai-python's
``types/webhooks/batch_completed_webhook_event.py``."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import openai
import pytest
from openai.types.webhooks import BatchCompletedWebhookEvent
from starlette.testclient import TestClient

from adapters.base import AdapterTarget
from adapters.batch_api.outcomes import BatchItem
from adapters.emulator import EmulatorConfig, create_app
from broker.jobs import CompletionRequest
from tests.adapters.batch_flow import run_openai

SECRET = "whsec_Y2FzY2FkZS10ZXN0LXdlYmhvb2stc2VjcmV0LTMyYiE="
TARGET = AdapterTarget("openai", "http://testserver/openai/v1", "gpt-5.4")
ITEMS = [BatchItem(f"line-{n}", CompletionRequest.model_validate(
    {"messages": [{"role": "user", "content": f"Question {n}?"}], "max_tokens": 20}))
    for n in range(2)]


class Receiver:
    """Keeps each delivery; answers 500 to the first ``refuse`` of them, 200 after."""

    def __init__(self, refuse: int) -> None:
        self.got: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.got.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(500 if len(receiver.got) <= refuse else 200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait(self, count: int, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while len(self.got) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(self.got) >= count, self.got


@pytest.fixture
def emulator() -> Iterator[TestClient]:
    with TestClient(create_app(EmulatorConfig())) as client:
        yield client


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    made = Receiver(refuse=1)
    yield made
    made.server.shutdown()


def test_an_ended_batch_is_announced_signed_and_retried_with_the_same_webhook_id(
    emulator: TestClient, receiver: Receiver
) -> None:
    emulator.post("/_emulator/batches", json={
        "completion_delay_s": 0.3, "webhook_url": receiver.url, "webhook_secret": SECRET})
    run_openai(emulator, ITEMS, TARGET, lambda: time.sleep(0.05))
    receiver.wait(2)
    sdk = openai.OpenAI(api_key="unused", webhook_secret=SECRET)
    events = [sdk.webhooks.unwrap(body, headers) for headers, body in receiver.got]
    completed = [event for event in events if isinstance(event, BatchCompletedWebhookEvent)]
    assert len(completed) == len(events)
    [batch] = emulator.get("/_emulator/batches").json()["batches"]
    assert {event.data.id for event in completed} == {batch["id"]}
    assert len({headers["webhook-id"] for headers, _ in receiver.got}) == 1
    [sent] = emulator.get("/_emulator/batches").json()["webhooks_sent"]
    assert (sent["type"], sent["status"], sent["attempts"]) == ("batch.completed", 200, 2)


def test_a_batch_made_without_a_webhook_sends_none(
    emulator: TestClient, receiver: Receiver
) -> None:
    emulator.post("/_emulator/batches", json={"completion_delay_s": 0.1})
    run_openai(emulator, ITEMS, TARGET, lambda: time.sleep(0.05))
    time.sleep(0.5)
    assert receiver.got == []
    assert emulator.get("/_emulator/batches").json()["webhooks_sent"] == []


def test_a_webhook_url_without_its_secret_is_refused_naming_the_field(
    emulator: TestClient,
) -> None:
    answer = emulator.post("/_emulator/batches", json={"webhook_url": "http://127.0.0.1:9/h"})
    assert answer.status_code == 422
    assert "webhook_secret" in answer.text
