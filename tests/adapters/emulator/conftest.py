"""Fixtures for the batch tests: an in-process emulator whose clock the test moves."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from adapters.emulator import EmulatorConfig, create_app
from adapters.emulator.app import emulator_state
from tests.routing.factories import Clock


@pytest.fixture
def clock() -> Clock:
    return Clock(1_800_000_000.0)


@pytest.fixture
def clocked(clock: Clock) -> Iterator[TestClient]:
    """A client of a fresh emulator that reads ``clock``: batches move only when it does."""
    app = create_app(EmulatorConfig())
    emulator_state(app).clock = clock
    with TestClient(app) as test_client:
        yield test_client
