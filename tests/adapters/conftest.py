"""Fixtures: a fresh in-process emulator app per test (emulator and adapter round-trip tests)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from adapters.emulator import EmulatorConfig, create_app


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(create_app(EmulatorConfig(hang_s=0.05))) as test_client:
        yield test_client
