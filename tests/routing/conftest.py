"""Fixtures of the Redis-backed routing tests: key names of their own, a clock (the connection,
``client``, is in tests/conftest.py)."""

from __future__ import annotations

import uuid

import pytest

from broker.keys import Keys
from tests.routing.factories import Clock


@pytest.fixture
def keys() -> Keys:
    """A prefix of the test's own, so that tests sharing one Redis never see each other's keys."""
    return Keys(prefix=f"test-{uuid.uuid4().hex[:8]}")


@pytest.fixture
def clock() -> Clock:
    return Clock()
