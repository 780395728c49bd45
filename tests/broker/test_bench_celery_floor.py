"""The engine's floor bench: a real celery worker with cascade's settings, no-op messages."""

from __future__ import annotations

import time

import pytest

from broker.bench.celery_floor import measure_floor

pytestmark = pytest.mark.integration


def test_the_floor_counts_the_worker_s_and_redis_s_cpu_per_message_of_a_real_worker() -> None:
    found = measure_floor(messages=300, events=True, concurrency=8)

    assert found["worker_ms_per_message"] > 0
    # /proc counts CPU in 10 ms ticks: a few hundred messages may cost Redis under one tick
    assert found["redis_ms_per_message"] >= 0


def test_a_rate_spreads_the_messages_over_the_time_it_implies() -> None:
    started = time.monotonic()

    found = measure_floor(messages=40, events=False, concurrency=4, rate_per_s=50.0)

    # 40 messages at 50 a second: the last one leaves 0.78 s after the first
    assert time.monotonic() - started >= 0.78
    assert found["worker_ms_per_message"] > 0
