"""``cascade status JOB_ID``: where a job is, as JSON, with its offload: on the shipped catalog
(batch modes and batch prices), offloading on by default, a job with a day to go is parked for
a provider batch and says why; one with ten minutes is kept synchronous and says why; one
without a deadline says nothing of offloading."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from broker.catalog_file import load_catalog
from broker.client import CascadeClient
from broker.settings import Settings
from tests.broker.test_cli import cascade

SHIPPED = str(Path(__file__).parents[3] / "broker" / "cascade.yaml")
PROMPT = {"messages": [{"role": "user", "content": "Hi."}]}


@pytest.fixture()
def client(redis_url: str) -> Iterator[CascadeClient]:
    url = redis_url.rsplit("/", 1)[0] + "/5"
    settings = Settings(redis_url=url, config=SHIPPED, profile="emulated",
                        emulator_url="http://127.0.0.1:9")
    catalog = load_catalog(SHIPPED, "emulated", emulator_url="http://127.0.0.1:9")
    with closing(CascadeClient(settings, catalog)) as made:
        made.redis.flushdb()
        yield made
        made.redis.flushdb()


def status(client: CascadeClient, job_id: str) -> dict[str, object]:
    url = client.settings.redis_url
    shown = cascade("status", job_id, redis_url=url, config=SHIPPED)
    assert shown.returncode == 0, shown.stderr
    found: dict[str, object] = json.loads(shown.stdout)
    return found


def test_a_job_with_a_day_to_go_is_parked_for_a_provider_batch_and_says_why(
    client: CascadeClient,
) -> None:
    deadline = datetime.now(UTC) + timedelta(hours=24)
    job_id = client.submit(PROMPT, model="gpt-5.4-mini", deadline=deadline)
    shown = status(client, job_id)
    assert shown["status"] == "queued"
    offload = shown["offload"]
    assert isinstance(offload, dict)
    assert offload["state"] == "parked"
    assert str(offload["reason"]).startswith("offloaded to openai's batch API for gpt-5.4-mini")


def test_a_job_with_ten_minutes_stays_synchronous_and_one_without_a_deadline_says_nothing(
    client: CascadeClient,
) -> None:
    close = client.submit(PROMPT, model="gpt-5.4-mini",
                          deadline=datetime.now(UTC) + timedelta(minutes=10))
    offload = status(client, close)["offload"]
    assert isinstance(offload, dict) and offload["state"] == "not_offloaded"
    assert "margin" in str(offload["reason"])
    waiting = client.submit(PROMPT, model="gpt-5.4-mini")
    assert status(client, waiting)["offload"] is None
    assert client.redis.hget(client.keys.job(waiting), "offload") is None  # nothing written


def test_an_unknown_job_exits_2(client: CascadeClient) -> None:
    shown = cascade("status", "no-such-job", redis_url=client.settings.redis_url, config=SHIPPED)
    assert shown.returncode == 2
    assert "no job with id 'no-such-job'" in shown.stderr
