"""Held jobs on a real Redis: due ones move onto the Celery list, no more than the room given,
each once, and the rest keep waiting in the held set."""

from __future__ import annotations

import pytest
import redis

from broker.client import CascadeClient
from broker.job_holds import HoldRecord, next_hold_record
from broker.keys import Keys
from broker.scheduler import HeldJobs
from tests.broker.scheduler.conftest import wake_listener

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


def record(error_class: str, model: str = "a1", look_at: float = 100.0) -> HoldRecord:
    return next_hold_record(
        None,
        error_class=error_class,
        reason="why",
        provider="alpha",
        model=model,
        hop=0,
        now=1.0,
        look_at=look_at,
    )


def test_a_hold_writes_the_jobs_hold_entry_on_its_record(
    held: HeldJobs, redis_db: redis.Redis
) -> None:
    entry = record("SpendCapReached")
    held.hold(QUEUE, "job", b"look", 100.0, record=entry)

    assert HoldRecord.from_json(redis_db.hget(KEYS.job("job"), "held") or b"") == entry
    assert not redis_db.exists(KEYS.sched_held_for_circuit("alpha", "a1"))  # not a circuit's


def test_a_closed_circuit_makes_its_held_jobs_due_now_and_wakes_their_queues(
    held: HeldJobs, redis_db: redis.Redis
) -> None:
    other = "holds-test-smart.alpha"
    held.hold(QUEUE, "job-1", b"m1", 100.0, record=record("CircuitOpen"))
    held.hold(other, "job-2", b"m2", 100.0, record=record("CircuitOpen"))
    held.hold(QUEUE, "job-3", b"m3", 100.0, record=record("CircuitOpen", model="a2"))
    held.hold(QUEUE, "job-4", b"m4", 100.0, record=record("CircuitOpen"))
    assert held.release(QUEUE, now=200.0, limit=1) == 1  # job-1 left meanwhile (due first)
    with wake_listener(redis_db, KEYS) as wake:
        assert held.release_circuit("alpha", "a1", now=5.0) == 2  # job-2 and job-4; not a2's

        assert redis_db.zscore(KEYS.sched_held(QUEUE), "job-4") == 5.0
        assert redis_db.zscore(KEYS.sched_held(other), "job-2") == 5.0
        assert redis_db.zscore(KEYS.sched_held(QUEUE), "job-3") == 100.0
        assert not redis_db.exists(KEYS.sched_held_for_circuit("alpha", "a1"))  # dropped
        assert redis_db.ttl(KEYS.sched_held_for_circuit("alpha", "a2")) > 0  # bounded
        woken = {wake.get_message(timeout=1)["data"] for _ in range(2)}
        assert woken == {QUEUE.encode(), other.encode()}
        assert held.release_circuit("alpha", "a1", now=6.0) == 0  # nothing listed any more
