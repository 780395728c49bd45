"""The scheduler on a real Redis, without workers: what the submit script adds and what a
top-up moves onto the Celery list, in which order. The list is read as a worker consumes it
(oldest first)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from broker.batches import Batches
from broker.client import CascadeClient
from broker.scheduler import Dispatcher, HeldJobs, PickPolicy, SchedulerState
from tests.broker.scheduler.conftest import PROMPT, submit
from tests.queued import listed_job_ids, queued

pytestmark = pytest.mark.integration

QUEUE = "fast.alpha"


def dispatcher(client: CascadeClient, depth: int, **weights: float) -> Dispatcher:
    policy = PickPolicy(every=10, weights=weights)
    return Dispatcher(client.redis, client.keys, [QUEUE], depth=depth, policy=policy, sweep_s=1)


def listed(client: CascadeClient) -> list[str]:
    return listed_job_ids(client.redis, QUEUE)


def test_a_submit_queues_nothing_on_celery_and_a_top_up_fills_the_queue_to_its_depth(
    client: CascadeClient,
) -> None:
    submit(client, [f"j{i}" for i in range(20)])
    assert client.redis.llen(QUEUE) == 0 and queued(client.redis, QUEUE) == 20

    moved = dispatcher(client, depth=8).top_up(QUEUE)

    assert moved == 8 and listed(client) == [f"j{i}" for i in range(8)]
    assert dispatcher(client, depth=8).top_up(QUEUE) == 0  # full: nothing more
    assert queued(client.redis, QUEUE) == 20


def test_another_tenant_s_job_is_next_behind_a_backlog_and_interactive_goes_first(
    client: CascadeClient,
) -> None:
    submit(client, [f"a{i}" for i in range(100)], tenant="acme", priority="bulk")
    submit(client, ["b0"], tenant="globex", priority="bulk")
    submit(client, ["urgent"], tenant="acme", priority="interactive")

    dispatcher(client, depth=4).top_up(QUEUE)

    assert listed(client) == ["urgent", "a0", "b0", "a1"]


def test_weights_three_to_one_move_three_jobs_of_the_heavier_tenant_for_each_other(
    client: CascadeClient,
) -> None:
    submit(client, [f"a{i}" for i in range(50)], tenant="acme")
    submit(client, [f"g{i}" for i in range(50)], tenant="globex")

    dispatcher(client, depth=40, acme=3.0).top_up(QUEUE)

    tenants = [job_id[0] for job_id in listed(client)]
    assert (tenants.count("a"), tenants.count("g")) == (30, 10)


def test_within_a_tenant_the_earliest_deadline_goes_first_then_arrival(
    client: CascadeClient,
) -> None:
    soon = datetime.now(UTC) + timedelta(minutes=5)
    submit(client, ["plain1", "plain2"])
    submit(client, ["late"], deadline=(soon + timedelta(minutes=5)).isoformat())
    submit(client, ["early"], deadline=soon.isoformat())

    dispatcher(client, depth=10).top_up(QUEUE)

    assert listed(client) == ["early", "late", "plain1", "plain2"]


def test_a_tenant_back_after_a_pause_gets_its_share_not_a_burst_of_credit(
    client: CascadeClient,
) -> None:
    submit(client, [f"a{i}" for i in range(30)], tenant="acme")
    dispatcher(client, depth=20).top_up(QUEUE)  # acme alone: 20 picks, its pass is 20
    client.redis.delete(QUEUE)
    submit(client, [f"g{i}" for i in range(30)], tenant="globex")

    dispatcher(client, depth=6).top_up(QUEUE)

    # globex starts at the last pick's pass (19), not at 0: six picks alternate, where a
    # credit for the pause would have given globex all six
    assert [job_id[0] for job_id in listed(client)] == ["g", "a", "g", "a", "g", "a"]


def test_a_batch_cancelled_while_waiting_is_dropped_at_dispatch_and_never_queued(
    client: CascadeClient,
) -> None:
    batches = Batches(client)
    line = {"method": "POST", "url": "/v1/chat/completions", "body": {"model": "fast", **PROMPT}}
    batches.submit([{**line, "custom_id": f"r{i}"} for i in range(50)], batch_id="nightly")
    submit(client, ["after"], priority="bulk")
    batches.cancel("nightly")

    moved = dispatcher(client, depth=8).top_up(QUEUE)

    assert (moved, listed(client)) == (1, ["after"])
    assert queued(client.redis, QUEUE) == 1
    assert SchedulerState(client.redis, client.keys).waiting([QUEUE]) == []


def test_a_top_up_moves_due_held_jobs_first_and_only_into_the_queue_s_room(
    client: CascadeClient,
) -> None:
    submit(client, [f"w{i}" for i in range(5)])
    held = HeldJobs(client.redis, client.keys)
    now = datetime.now(UTC).timestamp()
    for n in range(4):
        message = json.dumps({"headers": {"id": f"h{n}"}}).encode()
        held.hold(QUEUE, f"h{n}", message, now - 10 + n)  # due
    held.hold(QUEUE, "later", json.dumps({"headers": {"id": "later"}}).encode(), now + 600)

    assert dispatcher(client, depth=3).top_up(QUEUE) == 3

    assert listed(client) == ["h0", "h1", "h2"]  # held first, no more than the room
    assert held.counts([QUEUE]) == {QUEUE: 2}  # h3 waits for room, "later" for its time
    assert queued(client.redis, QUEUE) == 5 + 3  # the five submitted still wait, none moved
