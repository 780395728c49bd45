"""A producer on a Redis database of its own (2), emptied before and after each test: no worker
consumes it, so what a test submits stays in the scheduler until the test moves it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from broker.catalog_file import load_catalog
from broker.client import CascadeClient
from broker.settings import Settings

CATALOG = str(Path(__file__).parents[2] / "fixtures" / "catalog.yaml")


@pytest.fixture()
def client(redis_url: str) -> Iterator[CascadeClient]:
    url = redis_url.rsplit("/", 1)[0] + "/2"
    redis.Redis.from_url(url).flushdb()
    # These tests look at what the scheduler does with waiting work, so every submit waits:
    # the fast path onto an idle queue's list is off here (tested in test_direct.py).
    settings = Settings(redis_url=url, config=CATALOG, profile="emulated", dispatch_direct=False)
    client = CascadeClient(settings, load_catalog(CATALOG, "emulated"))
    yield client
    client.redis.flushdb()
    client.close()
