"""Fixtures of the Redis-backed routing tests: a connection, key names of their own, a clock."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis

from broker.keys import Keys
from tests.routing.factories import Clock


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    connection = redis.Redis.from_url(redis_url)
    yield connection
    connection.close()


@pytest.fixture
def keys() -> Keys:
    """A prefix of the test's own, so that tests sharing one Redis never see each other's keys."""
    return Keys(prefix=f"test-{uuid.uuid4().hex[:8]}")


@pytest.fixture
def clock() -> Clock:
    return Clock()
