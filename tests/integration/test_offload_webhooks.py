"""Provider batch webhooks end to end, and the offload shown in a job's status: the emulator
sends OpenAI's signed ``batch.completed`` to a real ``cascade api`` when a provider batch ends,
and the poller a real ``cascade worker`` runs by default folds the batch at once, though it asks
providers for a batch's status only every two minutes. A job's status (``GET /v1/jobs/{id}``)
tells its provider batch while it waits, then how it ended: answered by it, or sent back to its
synchronous route by its fall-back time, and why.

The webhook format is OpenAI's (platform.openai.com/docs/guides/webhooks: Standard Webhooks
headers webhook-id, webhook-timestamp, webhook-signature; the event body of openai-python's
``types/webhooks/batch_completed_webhook_event.py``)."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import yaml

from broker.catalog_file import load_catalog
from broker.client import CascadeClient
from broker.jobs import CompletionResult
from broker.local_stack import LocalStack
from broker.settings import Settings
from tests.integration.support import FAST_ENV, FIXTURE_CATALOG, api_server, wait_for

pytestmark = pytest.mark.integration

SECRET = "whsec_" + base64.b64encode(b"cascade-test-webhook-secret-32b!").decode()
API_KEY = "sk-patient"
AUTH = {"Authorization": f"Bearer {API_KEY}"}
PROMPT = {"messages": [{"role": "user", "content": "Wait for the discount."}], "max_tokens": 20}
MARGIN_S = 20.0
STATUS_S = 120.0  # far longer than any wait below: only a webhook can explain a prompt fold
ENV = {
    **FAST_ENV,
    "CASCADE_OFFLOAD_POLL_S": "0.5",
    "CASCADE_OFFLOAD_STATUS_S": str(STATUS_S),
    "CASCADE_OFFLOAD_LEASE_S": "5",
    "ALPHA_WEBHOOK_SECRET": SECRET,
    "CASCADE_API_KEYS": f"patient={API_KEY}",
}


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> str:
    data: dict[str, Any] = yaml.safe_load(FIXTURE_CATALOG.read_text())
    data["providers"]["alpha"]["batch"] = {
        "max_requests": 50, "max_bytes": 1_000_000, "completion_window_s": 86400,
        "webhook_secret_env": "ALPHA_WEBHOOK_SECRET"}
    for model in data["models"]:
        if model["name"] == "a1":
            model["batch_price"] = {"input": 0.05, "output": 0.20}
    path = tmp_path_factory.mktemp("offload-webhooks") / "catalog.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


@pytest.fixture(scope="module")
def stack(catalog: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    logs = tmp_path_factory.mktemp("offload-webhooks-logs")
    with LocalStack(config=catalog, log_dir=logs, extra_env=ENV) as s:
        s.start_redis()
        s.start_emulator()
        s.start_worker("alpha", concurrency=8)  # and, by default, a poller for alpha
        s.wait_for_workers()
        yield s


@pytest.fixture(scope="module")
def api(stack: LocalStack) -> Iterator[str]:
    with api_server(stack) as base:
        yield base


@pytest.fixture()
def client(stack: LocalStack, catalog: str, api: str) -> Iterator[CascadeClient]:
    settings = Settings(
        redis_url=stack.redis_url, config=catalog, profile="emulated",
        emulator_url=stack.emulator_url, offload_margin_s=MARGIN_S, offload_min_wait_s=1,
    )
    loaded = load_catalog(catalog, "emulated", emulator_url=stack.emulator_url)
    with closing(CascadeClient(settings, loaded)) as made:
        httpx.delete(f"{stack.emulator_url}/_emulator/batches").raise_for_status()
        yield made


def emulated_batches(stack: LocalStack, api: str, **settings: Any) -> None:
    body = {**settings, "webhook_url": f"{api}/v1/provider-webhooks/alpha",
            "webhook_secret": SECRET}
    httpx.post(f"{stack.emulator_url}/_emulator/batches", json=body).raise_for_status()


def submit(client: CascadeClient, count: int, deadline_s: float) -> list[str]:
    """``count`` jobs in one write, so that one poller pass puts them in one provider batch."""
    deadline = datetime.now(UTC) + timedelta(seconds=deadline_s)
    return client.submit_many(
        client.build_job(PROMPT, model="a1", tenant="patient", deadline=deadline)
        for _ in range(count)
    )


def job(api: str, job_id: str) -> dict[str, Any]:
    answer = httpx.get(f"{api}/v1/jobs/{job_id}", headers=AUTH, timeout=10)
    answer.raise_for_status()
    found: dict[str, Any] = answer.json()
    return found


def sent(stack: LocalStack) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = httpx.get(
        f"{stack.emulator_url}/_emulator/batches").json()["webhooks_sent"]
    return listed


def test_a_batch_webhook_folds_the_batch_at_once_though_status_is_polled_every_two_minutes(
    stack: LocalStack, api: str, client: CascadeClient
) -> None:
    emulated_batches(stack, api, completion_delay_s=1.0)
    started = time.monotonic()
    ids = submit(client, 4, deadline_s=600)
    wait_for(lambda: all(client.get(i) is not None for i in ids), 20, "every job answered")
    assert time.monotonic() - started < 20 < STATUS_S
    results = [client.get(i) for i in ids]
    assert all(isinstance(r, CompletionResult) for r in results)
    workers = {r.attempts[-1].worker for r in results if isinstance(r, CompletionResult)}
    [worker] = workers  # one provider batch answered all four
    assert worker is not None and worker.startswith("offload:alpha:batch_")
    [delivery] = sent(stack)
    assert (delivery["type"], delivery["status"], delivery["attempts"]) == (
        "batch.completed", 200, 1)
    assert worker == f"offload:alpha:{delivery['batch_id']}"
    # the job's status says how it was answered
    view = job(api, ids[0])
    assert view["status"] == "succeeded"
    assert view["offload"]["state"] == "answered"
    assert view["offload"]["provider_batch_id"] == delivery["batch_id"]
    assert view["offload"]["reason"].startswith("offloaded to alpha's batch API")


def test_a_waiting_job_shows_its_provider_batch_then_why_it_fell_back(
    stack: LocalStack, api: str, client: CascadeClient
) -> None:
    emulated_batches(stack, api, completion_delay_s=3600)
    [job_id] = submit(client, 1, deadline_s=MARGIN_S + 6)

    def in_batch() -> bool:
        return bool(job(api, job_id)["offload"]["state"] == "in_provider_batch")

    wait_for(in_batch, 10, "the job in a provider batch")
    waiting = job(api, job_id)
    assert waiting["status"] == "queued"
    assert waiting["offload"]["provider_batch_id"].startswith("batch_")
    assert waiting["offload"]["provider"] == "alpha"
    # By its fall-back time, long before the next status poll, it goes synchronous.
    wait_for(lambda: client.get(job_id) is not None, 20, "the job answered synchronously")
    ended = job(api, job_id)
    assert ended["status"] == "succeeded"
    assert not ended["result"]["attempts"][-1]["worker"].startswith("offload:")
    assert ended["offload"]["state"] == "fell_back"
    assert ended["offload"]["provider_batch_id"] == waiting["offload"]["provider_batch_id"]
    assert "fall-back time" in ended["offload"]["fallback_reason"]
    # the cancelled provider batch still announced its end, and it was taken in
    wait_for(lambda: bool(sent(stack)), 10, "the cancelled batch's webhook")
    assert sent(stack)[0]["type"] == "batch.cancelled"
    assert sent(stack)[0]["status"] == 200


def test_a_job_that_cannot_wait_says_it_was_not_offloaded_and_why(
    stack: LocalStack, api: str, client: CascadeClient
) -> None:
    deadline = datetime.now(UTC) + timedelta(seconds=MARGIN_S / 2)
    job_id = client.submit(PROMPT, model="a1", tenant="patient", deadline=deadline)
    wait_for(lambda: client.get(job_id) is not None, 15, "the job answered")
    view = job(api, job_id)["offload"]
    assert view["state"] == "not_offloaded"
    assert view["offloaded"] is False
    assert "margin" in view["reason"]
