"""Prometheus metrics: what workers count, and what the exporter reads from Redis."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import redis
from prometheus_client import REGISTRY, CollectorRegistry

from broker.keys import Keys
from broker.local_stack import free_port
from broker.metrics import (
    RedisCollector,
    observe_attempt,
    observe_circuit,
    observe_job_end,
    observe_reroute,
    queue_lists,
    serve_from_env,
)

CATALOG = str(Path(__file__).parents[1] / "fixtures" / "catalog.yaml")


@dataclass(frozen=True)
class Target:
    provider: str
    model: str
    tier: str
    queue: str = ""


ALPHA = Target("alpha-m", "a1", "fast", "fast.alpha-m")
BETA = Target("beta-m", "b1", "fast", "fast.beta-m")


def _value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_a_retried_call_counts_as_an_attempt_a_retry_and_a_latency_sample() -> None:
    observe_attempt(ALPHA, outcome="retry", duration_s=0.3, error_class="Overloaded")

    assert (
        _value(
            "cascade_attempts_total",
            provider="alpha-m",
            model="a1",
            tier="fast",
            outcome="retry",
            error_class="Overloaded",
        )
        == 1
    )
    assert (
        _value(
            "cascade_retries_total",
            provider="alpha-m",
            model="a1",
            tier="fast",
            error_class="Overloaded",
        )
        == 1
    )
    assert (
        _value(
            "cascade_provider_call_seconds_count", provider="alpha-m", model="a1", outcome="retry"
        )
        == 1
    )


def test_a_reroute_counts_both_providers_and_the_reason() -> None:
    observe_reroute(ALPHA, BETA, error_class="AuthError")

    assert (
        _value(
            "cascade_reroutes_total",
            from_provider="alpha-m",
            to_provider="beta-m",
            tier="fast",
            error_class="AuthError",
        )
        == 1
    )


def test_a_job_end_counts_outcome_cost_tokens_and_its_whole_duration() -> None:
    now = datetime(2026, 1, 1, 12, 0, 10, tzinfo=UTC)
    # The registry is the process's own: other tests' jobs of tier "fast" count in it too.
    seconds_before = _value("cascade_job_seconds_sum", outcome="succeeded", tier="fast")
    observe_job_end(
        BETA,
        outcome="succeeded",
        created_at=now - timedelta(seconds=4),
        cost_usd=0.25,
        prompt_tokens=100,
        completion_tokens=20,
        now=now,
    )

    assert _value("cascade_jobs_total", outcome="succeeded", provider="beta-m", tier="fast") == 1
    assert _value(
        "cascade_job_seconds_sum", outcome="succeeded", tier="fast"
    ) - seconds_before == pytest.approx(4)
    assert _value("cascade_cost_usd_total", provider="beta-m", model="b1", tier="fast") == 0.25
    assert _value("cascade_tokens_total", provider="beta-m", model="b1", kind="prompt") == 100


def test_circuit_state_is_a_gauge_that_alerts_can_compare_with_two_for_open() -> None:
    observe_circuit("alpha-m", "a1", "open")
    assert _value("cascade_circuit_state", provider="alpha-m", model="a1") == 2
    observe_circuit("alpha-m", "a1", "closed")
    assert _value("cascade_circuit_state", provider="alpha-m", model="a1") == 0


def test_no_metrics_port_means_no_server() -> None:
    assert serve_from_env({}) is False


@pytest.fixture()
def private_redis(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url.rsplit("/", 1)[0] + "/10")
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.mark.integration
def test_the_collector_reads_every_queue_unacked_messages_and_dead_letters(
    private_redis: redis.Redis,
) -> None:
    private_redis.rpush("fast.alpha", "m1", "m2")
    private_redis.rpush(queue_lists("fast.alpha")[2], "m3")  # a message sent with priority 6
    private_redis.hset("unacked", "tag-1", "{}")
    private_redis.zadd(Keys().dead_letters(), {"job-a": 1.0, "job-b": 2.0})
    registry = CollectorRegistry()
    registry.register(
        RedisCollector(private_redis, ["fast.alpha", "smart.beta"], Keys().dead_letters())
    )

    def value(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    assert value("cascade_queue_length", queue="fast.alpha", tier="fast", provider="alpha") == 3
    assert value("cascade_queue_length", queue="smart.beta", tier="smart", provider="beta") == 0
    assert value("cascade_unacked_messages") == 1
    assert value("cascade_dead_letters") == 2
    assert value("cascade_redis_up") == 1


@pytest.mark.integration
def test_cascade_metrics_serves_queue_lengths_over_http(redis_url: str) -> None:
    url = redis_url.rsplit("/", 1)[0] + "/10"
    client = redis.Redis.from_url(url)
    client.flushdb()
    client.rpush("smart.gamma", "m1")
    port = free_port()
    env = {**os.environ, "CASCADE_REDIS_URL": url, "CASCADE_CONFIG": CATALOG}
    process = subprocess.Popen(
        [sys.executable, "-m", "broker", "metrics", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        body = _scrape(f"http://127.0.0.1:{port}/metrics", timeout=20)
        assert 'cascade_queue_length{provider="gamma",queue="smart.gamma",tier="smart"} 1.0' in body
        assert 'queue="fast.alpha"' in body and "cascade_unacked_messages" in body
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=10)
        client.flushdb()
        client.close()


def _scrape(url: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while True:
        try:
            response = httpx.get(url, timeout=2)
            if response.status_code == 200:
                return response.text
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.2)
