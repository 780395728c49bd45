"""The submit's fast path (broker/job_writes.py): a job for an idle queue goes straight onto
its Celery list, as the next top-up would have put it; anything that could change whom the
scheduler serves first still waits in its sets. On a real Redis, without workers."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from broker.client import CascadeClient
from broker.scheduler import HeldJobs
from tests.broker.scheduler.conftest import PROMPT, scheduler_client, submit, wake_listener
from tests.queued import listed_job_ids

pytestmark = pytest.mark.integration

QUEUE = "fast.alpha"


@pytest.fixture()
def client(redis_url: str) -> Iterator[CascadeClient]:
    client = scheduler_client(redis_url, dispatch_depth=4)
    yield client
    client.redis.flushdb()
    client.close()


def listed(client: CascadeClient) -> list[str]:
    return listed_job_ids(client.redis, QUEUE)


def waiting(client: CascadeClient) -> int:
    """Jobs waiting in the scheduler's sets for the queue (not on its list)."""
    return int(client.redis.hlen(client.keys.sched_messages(QUEUE)))


def test_a_job_for_an_idle_queue_goes_onto_its_list_at_once_without_waking_a_dispatcher(
    client: CascadeClient,
) -> None:
    with wake_listener(client.redis, client.keys) as wakes:
        submit(client, ["a1"])
        assert listed(client) == ["a1"] and waiting(client) == 0
        assert wakes.get_message(timeout=0.3) is None
        assert client.redis.hget(client.keys.job("a1"), "status") == b"queued"


def test_the_list_is_filled_to_the_dispatch_depth_and_the_rest_waits_in_arrival_order(
    client: CascadeClient,
) -> None:
    submit(client, [f"a{n}" for n in range(6)])

    assert listed(client) == ["a0", "a1", "a2", "a3"]
    assert waiting(client) == 2


def test_behind_waiting_work_a_new_job_waits_its_turn_in_the_scheduler(
    client: CascadeClient,
) -> None:
    submit(client, [f"a{n}" for n in range(6)], tenant="acme")  # 4 listed, 2 waiting
    client.redis.delete(QUEUE)  # a worker took them: the list has room again

    submit(client, ["b1"], tenant="globex")

    assert listed(client) == []  # globex waits for a pick, its fair share against acme's
    assert waiting(client) == 3


def test_a_chunk_of_several_priorities_or_tenants_waits_so_the_scheduler_orders_it(
    client: CascadeClient,
) -> None:
    client.submit_many(
        [
            {"needs": {"tier": "fast"}, "request": PROMPT,
             "envelope": {"id": "bulk1", "priority": "bulk"}},
            {"needs": {"tier": "fast"}, "request": PROMPT,
             "envelope": {"id": "now1", "priority": "interactive"}},
        ]
    )  # fmt: skip

    assert listed(client) == [] and waiting(client) == 2


def test_a_job_with_a_deadline_waits_so_that_earlier_deadlines_go_first(
    client: CascadeClient,
) -> None:
    deadline = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    submit(client, ["d1"], deadline=deadline)

    assert listed(client) == [] and waiting(client) == 1


def test_a_held_job_that_is_due_goes_first_so_a_new_job_waits(client: CascadeClient) -> None:
    HeldJobs(client.redis, client.keys).hold(QUEUE, "held1", b"{}", 0.0)

    submit(client, ["a1"])

    assert listed(client) == [] and waiting(client) == 1


def test_with_the_fast_path_off_every_job_waits_in_the_scheduler(redis_url: str) -> None:
    off = scheduler_client(redis_url, dispatch_direct=False)
    try:
        submit(off, ["a1"])
        assert listed(off) == [] and waiting(off) == 1
    finally:
        off.redis.flushdb()
        off.close()
