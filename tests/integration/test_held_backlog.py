"""A rate-limited provider's backlog waits in Redis, in the scheduler's structures, not as
countdown messages parked inside workers (issue 14 item 4): while it drains, the Celery
messages that exist (on the list, or taken by a worker and not yet acknowledged) stay within
the dispatch depth plus the worker's slots, and the rest waits or is held in the scheduler.
Real worker, real emulator, a private Redis."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml

from broker.keys import Keys
from broker.local_stack import LocalStack
from broker.scheduler import HeldJobs, SchedulerState
from tests.integration.support import FAST_ENV, Emulator, client_for
from tests.integration.test_resilience import (
    CATALOG,
    assert_each_ended_once,
    results_within,
    submit,
)

pytestmark = pytest.mark.integration

QUEUE = "metered.gamma"
DEPTH, SLOTS, JOBS = 4, 4, 24


def fast_metered_catalog(directory: Path) -> str:
    """The resilience catalog with gamma at 240 requests a minute (4/s), burst 2."""
    data: dict[str, Any] = yaml.safe_load(Path(CATALOG).read_text())
    data["providers"]["gamma"]["rate_limit"] = {"rpm": 240, "request_burst": 2}
    path = directory / "catalog.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def celery_messages(client: redis.Redis) -> int:
    """Messages of the queue on its list, plus every message taken and not acknowledged (kombu
    keeps those in the ``unacked`` hash: a countdown message a worker holds is one of them)."""
    return int(client.llen(QUEUE)) + int(client.hlen("unacked"))


def scheduler_entries(client: redis.Redis) -> int:
    keys = Keys()
    waiting = sum(count.jobs for count in SchedulerState(client, keys).waiting([QUEUE]))
    return waiting + HeldJobs(client, keys).counts([QUEUE])[QUEUE]


@pytest.mark.system
def test_a_rate_limited_providers_backlog_waits_in_the_scheduler_not_in_celery_messages(
    tmp_path: Path,
) -> None:
    catalog = fast_metered_catalog(tmp_path)
    env = {**FAST_ENV, "CASCADE_DISPATCH_DEPTH": str(DEPTH), "CASCADE_HOLD_S": "0.5"}
    with LocalStack(config=catalog, log_dir=tmp_path, extra_env=env) as stack:
        stack.start_redis()
        stack.start_emulator()
        stack.start_worker("gamma", concurrency=SLOTS)
        stack.wait_for_workers()
        emulator = Emulator(stack.emulator_url)
        with client_for(stack, catalog) as client:
            ids = submit(client, "metered", JOBS)
            samples: list[tuple[int, int]] = []
            while emulator.answered() < JOBS // 2:
                time.sleep(0.3)
                samples.append((celery_messages(client.redis), scheduler_entries(client.redis)))
            assert_each_ended_once(client, ids, results_within(client, ids, timeout=60))
        # Sampled until half the jobs were answered, so at least half were left each time: all
        # but the few the list and the slots hold were in the scheduler. (Before holds moved
        # into the scheduler, the Celery messages reached 19 and the entries fell to 0.)
        assert max(messages for messages, _ in samples) <= DEPTH + SLOTS + 2, samples
        assert min(entries for _, entries in samples) >= JOBS // 2 - (DEPTH + SLOTS), samples
