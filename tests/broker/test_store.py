"""A delivery's first and last steps in the job store, against a real Redis."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis

from broker.catalog_file import load_catalog
from broker.client import CascadeClient
from broker.jobs import FailedResult, JobStatus
from broker.settings import Settings
from broker.store import JobStore

pytestmark = pytest.mark.integration

CATALOG = str(Path(__file__).parents[1] / "fixtures" / "catalog.yaml")
PROMPT = {"messages": [{"role": "user", "content": "Hi"}]}


@pytest.fixture()
def client(redis_url: str) -> Iterator[CascadeClient]:
    # A Redis database of its own keeps this test's keys apart.
    url = redis_url.rsplit("/", 1)[0] + "/4"
    redis.Redis.from_url(url).flushdb()
    settings = Settings(redis_url=url, config=CATALOG, profile="emulated")
    client = CascadeClient(settings, load_catalog(CATALOG, "emulated"))
    yield client
    client.close()


@pytest.fixture()
def store(client: CascadeClient) -> JobStore:
    return client.store


def _failed(job_id: str) -> FailedResult:
    return FailedResult(
        job_id=job_id,
        error_class="X",
        error_message="x",
        attempts=[],
        finished_at=datetime.now(UTC),
    )


def test_begin_claims_the_job_marks_it_running_and_returns_its_record_and_attempts(
    client: CascadeClient, store: JobStore
) -> None:
    job_id = client.submit(PROMPT, tier="fast")
    events = client.redis.pubsub()
    events.subscribe(client.keys.events_channel())
    events.get_message(timeout=1)

    begun = store.begin(job_id, 0, "worker-a:1", 60)

    assert begun.outcome == "started"
    assert begun.stored is not None and begun.stored.job.id == job_id
    assert begun.attempts == []
    assert store.status(job_id) is JobStatus.RUNNING
    assert client.redis.get(client.keys.claim(job_id)) == b"worker-a:1"
    message = events.get_message(timeout=1)
    assert message is not None
    assert json.loads(message["data"])["status"] == "running"
    events.close()


def test_begin_stands_down_for_a_claim_held_by_another_delivery_and_says_for_how_long(
    client: CascadeClient, store: JobStore
) -> None:
    job_id = client.submit(PROMPT, tier="fast")
    store.begin(job_id, 0, "worker-a:1", 60)

    begun = store.begin(job_id, 0, "worker-b:2", 60)

    assert begun.outcome == "claimed"
    assert 58 < begun.claim_seconds_left <= 60
    assert [target.queue for target in begun.route][0] == "fast.alpha"


def test_begin_stands_down_for_a_finished_unknown_or_moved_on_job(
    client: CascadeClient, store: JobStore
) -> None:
    finished, moved = client.submit(PROMPT, tier="fast"), client.submit(PROMPT, tier="fast")
    store.finish(finished, _failed(finished))
    store.advance(moved, 1)

    assert store.begin(finished, 0, "t", 60).outcome == "finished"
    assert store.begin("no-such-job", 0, "t", 60).outcome == "unknown"
    stale = store.begin(moved, 0, "t", 60)
    assert (stale.outcome, stale.hop) == ("stale", 1)
    assert not client.redis.exists(client.keys.claim(moved))


def test_finish_lets_go_of_the_claim_only_for_the_token_that_holds_it(
    client: CascadeClient, store: JobStore
) -> None:
    mine, theirs = client.submit(PROMPT, tier="fast"), client.submit(PROMPT, tier="fast")
    store.begin(mine, 0, "me", 60)
    store.begin(theirs, 0, "them", 60)

    assert store.finish(mine, _failed(mine), claim_token="me")
    assert store.finish(theirs, _failed(theirs), claim_token="me")

    assert not client.redis.exists(client.keys.claim(mine))
    assert client.redis.get(client.keys.claim(theirs)) == b"them"


def test_the_dead_letter_set_keeps_only_the_newest_failures_and_has_a_ttl(
    client: CascadeClient,
) -> None:
    store = JobStore(client.redis, client.keys, 60, dead_letters_max=3)
    ids = [client.submit(PROMPT, tier="fast") for _ in range(5)]
    for job_id in ids:
        assert store.finish(job_id, _failed(job_id))

    dead = client.keys.dead_letters()
    assert client.redis.zcard(dead) == 3
    assert [job_id for job_id, _ in store.dead_letters()] == ids[:1:-1]
    assert 0 < client.redis.ttl(dead) <= 60


def test_dead_letters_older_than_the_result_ttl_are_dropped_and_not_listed(
    client: CascadeClient, store: JobStore
) -> None:
    dead = client.keys.dead_letters()
    expired = datetime.now(UTC).timestamp() - store.ttl_s - 10
    client.redis.zadd(dead, {"long-gone": expired})
    assert store.dead_letters() == []

    job_id = client.submit(PROMPT, tier="fast")
    assert store.finish(job_id, _failed(job_id))
    assert client.redis.zrange(dead, 0, -1) == [job_id.encode()]


def test_only_a_pipeline_step_job_s_end_is_announced_to_the_pipeline_drivers(
    client: CascadeClient, store: JobStore
) -> None:
    # Every worker runs a pipeline driver: it used to read every job's events to find the few
    # that were pipeline steps (two JSON messages per job, per worker).
    plain = client.submit(PROMPT, tier="fast")
    step = client.submit(PROMPT, tier="fast", job_id="pipe1.summarise.0")
    listener = client.redis.pubsub(ignore_subscribe_messages=True)
    listener.subscribe(client.keys.pipeline_steps_channel())
    try:
        assert listener.get_message(timeout=1.0) is None  # the subscription, ignored
        store.finish(plain, _failed(plain))
        store.finish(step, _failed(step))
        heard = []
        while (message := listener.get_message(timeout=0.5)) is not None:
            heard.append(json.loads(message["data"])["job_id"])
        assert heard == [step]
    finally:
        listener.close()
