"""``cascade webhooks failed`` and ``cascade webhooks replay`` as an operator runs them."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis

from broker.catalog_file import load_catalog
from broker.client import CascadeClient
from broker.jobs import FailedResult
from broker.settings import Settings
from broker.webhooks import FailedDeliveries, TargetPolicy, WebhookRegistry
from broker.webhooks.queues import DeliveryQueues
from tests.broker.test_cli import cascade

pytestmark = pytest.mark.integration

CATALOG = str(Path(__file__).parents[2] / "fixtures" / "catalog.yaml")


@pytest.fixture()
def redis_url(redis_url: str) -> str:
    url = redis_url.rsplit("/", 1)[0] + "/12"
    redis.Redis.from_url(url).flushdb()
    return url


@pytest.fixture()
def client(redis_url: str) -> Iterator[CascadeClient]:
    settings = Settings(redis_url=redis_url, config=CATALOG, profile="emulated")
    found = CascadeClient(settings, load_catalog(CATALOG, "emulated"))
    yield found
    found.close()


def _given_up_delivery(client: CascadeClient, job_id: str) -> str:
    """A delivery for ``job_id`` that used up its attempts, made with the real Redis steps."""
    subject = f"job:{job_id}"
    WebhookRegistry(client.redis, client.keys, 3600, targets=TargetPolicy()).watch(
        subject, "https://hooks.example.com/cascade", "acme"
    )
    fields = {"subject": subject, "event": "job.completed", "url": "https://hooks.example.com/cascade",
              "tenant": "acme", "body": '{"old": true}', "attempts": "0"}
    delivery_id = f"d-{job_id}"
    assert DeliveryQueues(client.redis, client.keys).schedule(
        subject, delivery_id, fields, now=time.time(), ttl_s=3600
    )
    FailedDeliveries(client.redis, client.keys, ttl_s=3600, max_kept=100).give_up(
        "acme", delivery_id, attempts=8, error="HTTP 503", now=time.time()
    )
    return delivery_id


def test_failed_lists_given_up_deliveries_and_replay_puts_them_back_with_a_rebuilt_body(
    client: CascadeClient, redis_url: str
) -> None:
    job_id = client.submit({"messages": [{"role": "user", "content": "Hi"}]}, tier="fast")
    client.store.finish(
        job_id,
        FailedResult(job_id=job_id, error_class="X", error_message="x", attempts=[],
                     finished_at=datetime.now(UTC)),
    )
    delivery_id = _given_up_delivery(client, job_id)

    listed = cascade("webhooks", "failed", "--json", redis_url=redis_url)
    assert listed.returncode == 0, listed.stderr
    [row] = json.loads(listed.stdout)
    assert (row["id"], row["tenant"], row["attempts"], row["last_error"]) == (
        delivery_id, "acme", 8, "HTTP 503"
    )

    replayed = cascade("webhooks", "replay", "--all", redis_url=redis_url)
    assert replayed.returncode == 0, replayed.stderr
    assert f"{delivery_id}: due again" in replayed.stdout
    record = client.redis.hgetall(client.keys.webhook_delivery(delivery_id))
    assert json.loads(record[b"body"])["job_id"] == job_id
    assert record[b"attempts"] == b"0"
    assert client.redis.zscore(client.keys.webhooks_tenant_due("acme"), delivery_id) is not None

    again = cascade("webhooks", "replay", delivery_id, redis_url=redis_url)
    assert again.returncode == 2
    assert "no failed delivery" in again.stderr


def test_replay_of_a_delivery_whose_job_expired_says_so(
    client: CascadeClient, redis_url: str
) -> None:
    delivery_id = _given_up_delivery(client, "gone-job")

    replayed = cascade("webhooks", "replay", delivery_id, redis_url=redis_url)

    assert replayed.returncode == 2
    assert "job:gone-job is gone" in replayed.stderr


def test_replay_wants_ids_or_all() -> None:
    shown = cascade("webhooks", "replay")

    assert shown.returncode == 2
    assert "give delivery ids or --all" in shown.stderr
