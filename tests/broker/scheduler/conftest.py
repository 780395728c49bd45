"""A producer on a Redis database of its own (2), emptied before and after each test: no worker
consumes it, so what a test submits stays in the scheduler until the test moves it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import redis

from broker.catalog_file import load_catalog
from broker.client import CascadeClient
from broker.keys import Keys
from broker.settings import Settings

CATALOG = str(Path(__file__).parents[2] / "fixtures" / "catalog.yaml")
PROMPT = {"messages": [{"role": "user", "content": "Hi"}]}


def scheduler_client(redis_url: str, **settings: Any) -> CascadeClient:
    """A producer on database 2, emptied first, with ``settings`` over the defaults."""
    url = redis_url.rsplit("/", 1)[0] + "/2"
    redis.Redis.from_url(url).flushdb()
    chosen = Settings(redis_url=url, config=CATALOG, profile="emulated", **settings)
    return CascadeClient(chosen, load_catalog(CATALOG, "emulated"))


def submit(client: CascadeClient, ids: list[str], **envelope: object) -> None:
    """Submit a tier-``fast`` job under each id, all in one call, with ``envelope`` fields."""
    jobs = [
        {"needs": {"tier": "fast"}, "request": PROMPT, "envelope": {"id": job_id, **envelope}}
        for job_id in ids
    ]
    client.submit_many(jobs)


@contextmanager
def wake_listener(client: redis.Redis, keys: Keys) -> Iterator[Any]:
    """A subscriber of the scheduler's wake channel, handed over once Redis has confirmed the
    subscription, so that its next message can only be a wake."""
    wakes = client.pubsub()
    wakes.subscribe(keys.sched_wake_channel())
    try:
        confirmed = wakes.get_message(timeout=5.0)
        assert confirmed is not None and confirmed["type"] == "subscribe", confirmed
        yield wakes
    finally:
        wakes.close()


@pytest.fixture()
def client(redis_url: str) -> Iterator[CascadeClient]:
    # These tests look at what the scheduler does with waiting work, so every submit waits:
    # the fast path onto an idle queue's list is off here (tested in test_direct.py).
    client = scheduler_client(redis_url, dispatch_direct=False)
    yield client
    client.redis.flushdb()
    client.close()
