"""Queued work per (queue, priority, tenant) where an operator looks: the Prometheus gauge of
``cascade metrics`` and the ``cascade queues`` table. Real Redis, real ``cascade`` processes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from broker.client import CascadeClient
from broker.local_stack import free_port
from broker.scheduler import SchedulerState
from broker.scheduler.metrics import SchedulerCollector
from tests.broker.test_cli import cascade
from tests.broker.test_metrics import _scrape

pytestmark = pytest.mark.integration

CATALOG = str(Path(__file__).parents[2] / "fixtures" / "catalog.yaml")
PROMPT = {"messages": [{"role": "user", "content": "Hi"}]}


@pytest.fixture()
def seeded(client: CascadeClient) -> CascadeClient:
    client.submit_many(
        [
            {"needs": {"tier": "fast"}, "request": PROMPT, "envelope": envelope}
            for envelope in [{"tenant": "acme", "priority": "bulk"}] * 3
            + [{"tenant": "globex", "priority": "interactive"}]
        ]
    )
    client.submit(PROMPT, tier="smart", tenant="acme")
    return client


def test_the_collector_reports_waiting_jobs_per_queue_priority_and_tenant(
    seeded: CascadeClient,
) -> None:
    client = seeded
    registry = CollectorRegistry()
    state = SchedulerState(client.redis, client.keys)
    registry.register(SchedulerCollector(state, ["fast.alpha", "smart.gamma"]))

    def value(queue: str, priority: str, tenant: str) -> float | None:
        tier, _, provider = queue.partition(".")
        labels = {"queue": queue, "tier": tier, "provider": provider}
        labels |= {"priority": priority, "tenant": tenant}
        return registry.get_sample_value("cascade_scheduled_jobs", labels)

    assert value("fast.alpha", "bulk", "acme") == 3
    assert value("fast.alpha", "interactive", "globex") == 1
    assert value("smart.gamma", "standard", "acme") == 1
    assert value("fast.alpha", "standard", "acme") is None


def test_cascade_queues_prints_a_table_and_json_lines(seeded: CascadeClient) -> None:
    url = seeded.settings.redis_url
    shown = cascade("queues", redis_url=url)
    as_json = cascade("queues", "--json", redis_url=url)

    assert shown.returncode == 0, shown.stderr
    rows = [line.split("│")[1:-1] for line in shown.stdout.splitlines() if "fast.alpha" in line]
    assert [[cell.strip() for cell in row] for row in rows] == [
        ["fast.alpha", "interactive", "globex", "1"],
        ["fast.alpha", "bulk", "acme", "3"],
    ]
    assert '{"queue": "smart.gamma", "priority": "standard", "tenant": "acme", "waiting": 1}' in (
        as_json.stdout
    )


def test_cascade_metrics_serves_the_scheduled_jobs_gauge(seeded: CascadeClient) -> None:
    port = free_port()
    env = {**os.environ, "CASCADE_REDIS_URL": seeded.settings.redis_url, "CASCADE_CONFIG": CATALOG}
    process = subprocess.Popen(
        [sys.executable, "-m", "broker", "metrics", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        body = _scrape(f"http://127.0.0.1:{port}/metrics", timeout=20)
    finally:
        process.terminate()
        process.wait(timeout=10)
    expected = (
        'cascade_scheduled_jobs{priority="bulk",provider="alpha",queue="fast.alpha",'
        'tenant="acme",tier="fast"} 3.0'
    )
    assert expected in body
