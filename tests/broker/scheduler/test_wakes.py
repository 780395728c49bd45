"""When a dispatcher is woken (broker/scheduler/wakes.py): only for a list below half its depth,
by a submit (the submit script's wake) or a delivery that began (the begin script's length).
On a real Redis, without workers: the dispatcher's loop runs in a thread of the test."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from broker.client import CascadeClient
from broker.scheduler import Dispatcher, PickPolicy
from broker.scheduler.wakes import low_water, sweep_due
from tests.broker.scheduler.conftest import submit, wake_listener
from tests.integration.support import wait_for
from tests.queued import listed_job_ids

QUEUE = "fast.alpha"


def test_the_low_water_mark_is_half_the_depth_and_at_least_one() -> None:
    assert [low_water(depth) for depth in (1, 2, 7, 8, 64)] == [1, 1, 3, 4, 32]


def test_the_sweep_comes_every_sweep_s_however_often_wakes_come() -> None:
    assert sweep_due(float("-inf"), 0.0, 1.0)  # the first look is a sweep
    assert not sweep_due(10.0, 10.9, 1.0)
    assert sweep_due(10.0, 11.0, 1.0)


@pytest.fixture()
def running(client: CascadeClient) -> Iterator[Dispatcher]:
    """A dispatcher of depth 8 whose loop runs (not its pub/sub thread) and whose sweep (60 s)
    comes once, at its start, and not again during the test: whatever it moves afterwards, a
    wake made it move."""
    dispatcher = Dispatcher(
        client.redis, client.keys, [QUEUE], depth=8, policy=PickPolicy(), sweep_s=60
    )
    loop = threading.Thread(target=dispatcher.run, daemon=True)
    dispatcher.wake()
    loop.start()
    try:
        yield dispatcher
    finally:
        dispatcher.stop()
        loop.join(timeout=10)


def listed(client: CascadeClient) -> list[str]:
    return listed_job_ids(client.redis, QUEUE)


@pytest.mark.integration
def test_a_take_from_a_list_above_half_its_depth_wakes_nothing_and_one_below_tops_it_up(
    client: CascadeClient, running: Dispatcher
) -> None:
    submit(client, [f"j{n}" for n in range(20)])
    running.wake(QUEUE)  # as its pub/sub thread does on the submit's wake
    wait_for(lambda: len(listed(client)) == 8, 5, "the list topped up to its depth")
    client.redis.rpop(QUEUE, 3)  # three taken: five left, above the mark of four
    running.taken(QUEUE, 5)
    time.sleep(0.3)
    assert len(listed(client)) == 5
    client.redis.rpop(QUEUE, 2)
    running.taken(QUEUE, 3)  # below the mark: topped up to the depth at once
    wait_for(lambda: len(listed(client)) == 8, 5, "the list topped up to its depth")


@pytest.mark.integration
def test_a_take_whose_length_is_unknown_tops_its_queue_up(
    client: CascadeClient, running: Dispatcher
) -> None:
    submit(client, [f"j{n}" for n in range(20)])
    running.wake(QUEUE)
    wait_for(lambda: len(listed(client)) == 8, 5, "the list topped up to its depth")
    client.redis.rpop(QUEUE, 2)
    running.taken(QUEUE, None)
    wait_for(lambda: len(listed(client)) == 8, 5, "the list topped up to its depth")
    running.taken("fast.other", 0)  # not one of its queues: ignored


@pytest.mark.integration
def test_a_submit_wakes_the_dispatchers_only_while_the_list_is_below_half_its_depth(
    client: CascadeClient,
) -> None:
    with wake_listener(client.redis, client.keys) as wakes:
        client.redis.rpush(QUEUE, *["m"] * 4)  # at the mark (depth 8): no wake
        submit(client, ["a"])
        assert wakes.get_message(timeout=0.3) is None
        client.redis.ltrim(QUEUE, 0, 2)  # three: below the mark
        submit(client, ["b"])
        message = wakes.get_message(timeout=1.0)
        assert message is not None and message["data"] == QUEUE.encode()


@pytest.mark.integration
def test_a_begun_delivery_reports_the_length_of_the_list_it_came_from(
    client: CascadeClient,
) -> None:
    submit(client, ["a"])
    client.redis.rpush(QUEUE, *["m"] * 3)
    begun = client.store.begin("a", 0, "token", 60, QUEUE)
    assert begun.outcome == "started" and begun.queued == 3
    assert client.store.begin("a", 0, "other", 60).queued is None  # claimed: not reported
