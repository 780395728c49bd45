"""Every push onto a Celery list from the scheduler rings the list's bell once per message
(broker.keys.celery_queue_bell), which the worker's transport waits on (workers/message_pops.py):
the submit's fast path, a top-up's move, a held job's release and a replay's publish. On a real
Redis, without workers."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from broker.client import CascadeClient
from broker.jobs import FailedResult
from broker.keys import celery_queue_bell
from broker.scheduler import Dispatcher, HeldJobs, PickPolicy
from tests.broker.scheduler.conftest import scheduler_client, submit

pytestmark = pytest.mark.integration

QUEUE = "fast.alpha"


def _rings(client: CascadeClient) -> int:
    return int(client.redis.llen(celery_queue_bell(QUEUE)))


def test_the_submits_fast_path_rings_once_per_job_it_lists(redis_url: str) -> None:
    client = scheduler_client(redis_url)  # the fast path on
    try:
        submit(client, ["a1", "a2", "a3"])

        assert client.redis.llen(QUEUE) == 3 and _rings(client) == 3
    finally:
        client.redis.flushdb()
        client.close()


def test_a_top_up_rings_once_per_job_it_moves(client: CascadeClient) -> None:
    submit(client, [f"a{n}" for n in range(6)])  # all waiting: the fast path is off here
    dispatcher = Dispatcher(
        client.redis, client.keys, [QUEUE], depth=4, policy=PickPolicy(), sweep_s=1
    )

    assert dispatcher.top_up(QUEUE) == 4
    assert client.redis.llen(QUEUE) == 4 and _rings(client) == 4


def test_a_held_jobs_release_rings_once_per_job_it_lists(client: CascadeClient) -> None:
    held = HeldJobs(client.redis, client.keys)
    for n in range(3):
        held.hold(QUEUE, f"job-{n}", f"message-{n}".encode(), look_at=1.0)

    assert held.release(QUEUE, now=2.0, limit=2) == 2
    assert _rings(client) == 2


def test_a_replayed_jobs_first_message_rings_its_queue(client: CascadeClient) -> None:
    submit(client, ["a1"])
    client.redis.delete(QUEUE, celery_queue_bell(QUEUE))  # a worker took it, and it failed
    failed = FailedResult(
        job_id="a1", error_class="Unavailable", error_message="down", attempts=[],
        finished_at=datetime.now(UTC),
    )  # fmt: skip
    assert client.store.finish("a1", failed)

    assert client.replay("a1") is True

    assert client.redis.llen(QUEUE) == 1 and _rings(client) == 1
