"""Held jobs on a real Redis: due ones move onto the Celery list, no more than the room given,
each once, and the rest keep waiting in the held set."""

from __future__ import annotations

import pytest
import redis

from broker.client import CascadeClient
from broker.keys import Keys
from broker.scheduler import HeldJobs

QUEUE = "holds-test.alpha"
KEYS = Keys("holds-test")


@pytest.fixture
def redis_db(client: CascadeClient) -> redis.Redis:
    return client.redis  # the scheduler tests' own database, emptied around each test


@pytest.fixture
def held(redis_db: redis.Redis) -> HeldJobs:
    return HeldJobs(redis_db, KEYS)


def test_only_due_held_jobs_move_onto_the_list_up_to_the_room_given(
    held: HeldJobs, redis_db: redis.Redis
) -> None:
    for n, look_at in enumerate((10.0, 20.0, 30.0, 99.0)):
        held.hold(QUEUE, f"job-{n}", f"message-{n}".encode(), look_at)

    assert held.release(QUEUE, now=35.0, limit=2) == 2  # three are due, room for two
    assert redis_db.lrange(QUEUE, 0, -1) == [b"message-1", b"message-0"]  # earliest look first
    assert held.counts([QUEUE]) == {QUEUE: 2}

    assert held.release(QUEUE, now=35.0, limit=5) == 1
    assert held.release(QUEUE, now=35.0, limit=5) == 0  # job-3 is not due yet
    assert held.counts([QUEUE]) == {QUEUE: 1}
    assert redis_db.hkeys(KEYS.sched_held_messages(QUEUE)) == [b"job-3"]


def test_holding_a_job_again_rewrites_its_one_entry(held: HeldJobs, redis_db: redis.Redis) -> None:
    held.hold(QUEUE, "job", b"first look", 10.0)
    held.hold(QUEUE, "job", b"second look", 50.0)  # a redelivery of the same hold

    assert held.counts([QUEUE]) == {QUEUE: 1}
    assert held.release(QUEUE, now=20.0, limit=5) == 0
    assert held.release(QUEUE, now=60.0, limit=5) == 1
    assert redis_db.lrange(QUEUE, 0, -1) == [b"second look"]
