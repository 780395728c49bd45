"""Submitting through the client against a real Redis: refusals name the field and enqueue
nothing; accepted jobs are stored and queued once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from broker.catalog_file import load_catalog
from broker.client import CascadeClient, SubmitError, UnknownJob
from broker.jobs import JobStatus
from broker.settings import Settings

pytestmark = pytest.mark.integration

CATALOG = str(Path(__file__).parents[1] / "fixtures" / "catalog.yaml")
PROMPT = {"messages": [{"role": "user", "content": "Hi"}]}


@pytest.fixture()
def client(redis_url: str) -> Iterator[CascadeClient]:
    # A key prefix and Redis database of its own keep this test's keys apart.
    url = redis_url.rsplit("/", 1)[0] + "/3"
    redis.Redis.from_url(url).flushdb()
    settings = Settings(redis_url=url, config=CATALOG, profile="emulated")
    client = CascadeClient(settings, load_catalog(CATALOG, "emulated"))
    yield client
    client.close()


def _nothing_enqueued(client: CascadeClient) -> bool:
    return client.redis.dbsize() == 0


@pytest.mark.parametrize(
    ("job", "expected"),
    [
        ({"needs": {"tier": "premium"}, "request": PROMPT}, "needs.tier: unknown tier 'premium'"),
        ({"needs": {"tier": "fast"}, "request": {"messages": []}}, "request.messages: List should"),
        ({"needs": {"tier": "fast"}, "request": {**PROMPT, "temprature": 1}},
         "request.temprature: unknown field"),
        ({"needs": {"tier": "fast"}, "request": {**PROMPT, "max_tokens": "many"}},
         "request.max_tokens: Input should be a valid integer"),
        ({"needs": {"tier": "fast", "capabilities": ["telepathy"]}, "request": PROMPT},
         "needs.capabilities[0]: Input should be"),
    ],
)
def test_a_malformed_job_is_refused_naming_the_field_and_nothing_is_enqueued(
    client: CascadeClient, job: dict[str, Any], expected: str
) -> None:
    with pytest.raises(SubmitError) as refused:
        client.submit_many([job])
    assert expected in str(refused.value)
    assert _nothing_enqueued(client)


def test_one_bad_job_in_a_batch_refuses_the_whole_batch_naming_its_index(
    client: CascadeClient,
) -> None:
    good = {"needs": {"tier": "fast"}, "request": PROMPT}
    bad = {"needs": {"tier": "fast"}, "request": {"messages": [{"role": "user"}]}}
    with pytest.raises(SubmitError) as refused:
        client.submit_many([good, good, bad, good])
    assert str(refused.value).startswith("jobs[2].request.messages[0].content: Field required")
    assert _nothing_enqueued(client)


def test_a_job_no_target_can_serve_is_refused_with_each_candidates_reason(
    client: CascadeClient,
) -> None:
    with pytest.raises(SubmitError) as refused:
        client.submit(PROMPT, tier="fast", needs={"allowed_providers": ["nobody"]})
    assert "needs:" in str(refused.value) and "a1" in str(refused.value)
    assert _nothing_enqueued(client)


def test_an_accepted_job_is_stored_and_queued_on_its_first_targets_queue(
    client: CascadeClient,
) -> None:
    job_id = client.submit(PROMPT, tier="fast", tenant="acme")

    assert client.status(job_id) == JobStatus.QUEUED
    assert client.get(job_id) is None
    assert client.redis.llen("fast.alpha") == 1


def test_submitting_the_same_job_id_twice_queues_it_once(client: CascadeClient) -> None:
    first = client.submit(PROMPT, tier="fast", job_id="order-42")
    second = client.submit(PROMPT, tier="fast", job_id="order-42")

    assert first == second == "order-42"
    assert client.redis.llen("fast.alpha") == 1


def test_a_built_job_submitted_again_after_a_lost_answer_is_queued_once(
    client: CascadeClient,
) -> None:
    job = client.build_job(PROMPT, tier="fast")  # its id was made by cascade

    assert client.submit_many([job]) == client.submit_many([job]) == [job.id]
    assert client.redis.llen("fast.alpha") == 1


def test_a_batch_is_queued_in_full_on_each_jobs_own_queue(client: CascadeClient) -> None:
    jobs = [{"needs": {"tier": tier}, "request": PROMPT} for tier in ("fast", "smart") * 50]
    ids = client.submit_many(jobs)

    assert len(set(ids)) == 100
    assert (client.redis.llen("fast.alpha"), client.redis.llen("smart.gamma")) == (50, 50)


def test_an_unknown_job_id_is_reported_as_unknown(client: CascadeClient) -> None:
    with pytest.raises(UnknownJob):
        client.get("no-such-job")
    with pytest.raises(UnknownJob):
        client.wait("no-such-job", timeout=0.1)
