"""The offload's Redis scripts against a real Redis: a parked job is claimed by one record only,
falls back to its own queue with its message, is dropped when it has ended, and a closed
record lets go of its claims."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import redis

from broker.job_writes import JobWriter, NewJob
from broker.keys import Keys
from broker.offload.choice import parking_queue
from broker.offload.state import OffloadState

KEYS = Keys("offload-test")
QUEUE = "fast.alpha"


@pytest.fixture()
def state(client: redis.Redis) -> Iterator[OffloadState]:
    client.flushdb()
    yield OffloadState(client, KEYS)
    client.flushdb()


def park(client: redis.Redis, *job_ids: str) -> None:
    JobWriter(client, KEYS, 600).write([
        NewJob(job_id=job_id, tenant="t", batch_id=None, job_json="{}", route_json="[]",
               queue=parking_queue("alpha"), message=f"message-{job_id}".encode(),
               priority="bulk", deadline=time.time() + 100)
        for job_id in job_ids
    ])


def claim(state: OffloadState, record: str, *job_ids: str) -> list[str]:
    return state.claim("alpha", record, {"provider": "alpha"}, job_ids, token="me", lease_s=5)


def test_a_parked_job_is_claimed_by_the_first_record_only(
    state: OffloadState, client: redis.Redis
) -> None:
    park(client, "j1", "j2")
    assert claim(state, "r1", "j1") == ["j1"]
    assert claim(state, "r2", "j1", "j2") == ["j2"]
    assert state.claims(["j1", "j2"]) == ["r1", "r2"]
    assert state.record("r2")["lines"] == "j2"
    assert claim(state, "r3", "unknown") == []
    assert state.records() == ["r1", "r2"]


def test_a_fallen_back_job_joins_its_own_queue_with_its_message_and_score(
    state: OffloadState, client: redis.Redis
) -> None:
    park(client, "j1")
    [job] = state.parked("alpha")
    assert state.fall_back("alpha", job, QUEUE) == 1
    assert state.parked("alpha") == []
    waiting = KEYS.sched_waiting(QUEUE, "bulk", "t")
    assert client.zscore(waiting, "j1") == pytest.approx(job.fall_back_at)
    assert client.hget(KEYS.sched_messages(QUEUE), "j1") == b"message-j1"
    assert client.sismember(KEYS.sched_tenants(QUEUE, "bulk"), "t")
    assert state.fall_back("alpha", job, QUEUE) == 0  # once only


def test_a_job_that_ended_while_parked_is_dropped_not_queued(
    state: OffloadState, client: redis.Redis
) -> None:
    park(client, "j1")
    client.set(KEYS.result("j1"), "{}")
    [job] = state.parked("alpha")
    assert state.fall_back("alpha", job, QUEUE) == 0
    assert client.zcard(KEYS.sched_waiting(QUEUE, "bulk", "t")) == 0
    assert state.parked("alpha") == []


def test_a_record_falls_back_only_the_jobs_it_holds_and_closing_it_frees_the_rest(
    state: OffloadState, client: redis.Redis
) -> None:
    park(client, "j1", "j2")
    claim(state, "r1", "j1", "j2")
    parked = {job.job_id: job for job in state.parked("alpha")}
    assert state.fall_back("alpha", parked["j1"], QUEUE, record_id="other") == -1
    state.close("r1")
    assert state.claims(["j1", "j2"]) == [None, None]
    assert state.records() == []
    assert len(state.parked("alpha")) == 2  # parked still, for the next provider batch


def test_a_submitted_record_is_due_at_its_first_poll_and_a_closed_one_leaves_nothing(
    state: OffloadState, client: redis.Redis
) -> None:
    park(client, "j1")
    claim(state, "r1", "j1")
    now = time.time()
    assert state.due(now) == ["r1"]  # no poll time yet: looked at (its poller may be dead)
    state.submitted("r1", "alpha", "batch_1", now + 60)
    assert state.due(now) == []
    assert state.next_due() == pytest.approx(now + 60)
    assert client.hget(KEYS.offload_batches("alpha"), "batch_1") == b"r1"
    state.schedule("r1", now - 1, "in_progress")
    assert state.due(now) == ["r1"]
    assert state.record("r1")["provider_state"] == "in_progress"
    state.close("r1", "alpha")
    assert state.due(now) == [] and state.next_due() is None
    assert client.hlen(KEYS.offload_batches("alpha")) == 0
    # a closed record takes no poll time and no batch id (a late poll or submit)
    state.schedule("r1", now, "in_progress")
    state.submitted("r1", "alpha", "batch_1", now)
    assert client.exists(KEYS.offload_due(), KEYS.offload_record("r1")) == 0
