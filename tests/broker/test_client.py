"""Submitting through the client against a real Redis: refusals name the field and enqueue
nothing; accepted jobs are stored and queued once."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis

from broker.batches import Batches
from broker.catalog_file import load_catalog
from broker.client import CascadeClient, IdConflict, SubmitError, UnknownJob
from broker.jobs import FailedResult, JobStatus
from broker.settings import Settings
from tests.queued import queued
from tests.redis_writes import subscribers

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
    assert queued(client.redis, "fast.alpha") == 1


def test_submitting_the_same_job_id_twice_queues_it_once(client: CascadeClient) -> None:
    first = client.submit(PROMPT, tier="fast", job_id="order-42")
    second = client.submit(PROMPT, tier="fast", job_id="order-42")

    assert first == second == "order-42"
    assert queued(client.redis, "fast.alpha") == 1


def test_a_built_job_submitted_again_after_a_lost_answer_is_queued_once(
    client: CascadeClient,
) -> None:
    job = client.build_job(PROMPT, tier="fast")  # its id was made by cascade

    assert client.submit_many([job]) == client.submit_many([job]) == [job.id]
    assert queued(client.redis, "fast.alpha") == 1


def test_a_batch_is_queued_in_full_on_each_jobs_own_queue(client: CascadeClient) -> None:
    jobs = [{"needs": {"tier": tier}, "request": PROMPT} for tier in ("fast", "smart") * 50]
    ids = client.submit_many(jobs)

    assert len(set(ids)) == 100
    assert (queued(client.redis, "fast.alpha"), queued(client.redis, "smart.gamma")) == (50, 50)


def test_an_unknown_job_id_is_reported_as_unknown(client: CascadeClient) -> None:
    with pytest.raises(UnknownJob):
        client.get("no-such-job")
    with pytest.raises(UnknownJob):
        client.wait("no-such-job", timeout=0.1)


# --- tenants' ids ---------------------------------------------------------------------------


def _job(job_id: str, tenant: str, **envelope: Any) -> dict[str, Any]:
    return {
        "needs": {"tier": "fast"},
        "request": PROMPT,
        "envelope": {"id": job_id, "tenant": tenant, **envelope},
    }


def test_another_tenants_job_id_is_refused_and_their_job_is_left_as_it_was(
    client: CascadeClient,
) -> None:
    client.submit(PROMPT, tier="fast", job_id="order-7", tenant="acme")
    before = client.redis.hgetall("cascade:job:order-7")

    with pytest.raises(IdConflict) as refused:
        client.submit(PROMPT, tier="smart", job_id="order-7", tenant="globex")

    assert str(refused.value).startswith("envelope.id: 'order-7' is already taken")
    assert client.redis.hgetall("cascade:job:order-7") == before
    assert (queued(client.redis, "fast.alpha"), queued(client.redis, "smart.gamma")) == (1, 0)


def test_a_submit_holding_another_tenants_id_writes_none_of_its_jobs(
    client: CascadeClient,
) -> None:
    client.submit(PROMPT, tier="fast", job_id="order-8", tenant="acme")

    with pytest.raises(IdConflict, match=r"^jobs\[1\]\.envelope\.id: 'order-8'"):
        client.submit_many([_job("order-9", "globex"), _job("order-8", "globex")])

    assert not client.redis.exists("cascade:job:order-9")
    assert queued(client.redis, "fast.alpha") == 1


def test_the_write_itself_refuses_an_id_another_tenant_took_after_the_checks(
    client: CascadeClient,
) -> None:
    # globex's jobs pass the checks; acme takes one of the ids before globex's write.
    planned = client.plan_many([_job("order-10", "globex"), _job("order-11", "globex")])
    client.submit(PROMPT, tier="fast", job_id="order-11", tenant="acme")

    with pytest.raises(IdConflict, match=r"^jobs\[1\]\.envelope\.id: 'order-11'"):
        client.enqueue(planned)

    assert not client.redis.exists("cascade:job:order-10")
    assert client.redis.hget("cascade:job:order-11", "tenant") == b"acme"
    assert queued(client.redis, "fast.alpha") == 1


def test_a_job_naming_another_tenants_batch_or_none_is_refused_and_no_counter_moves(
    client: CascadeClient,
) -> None:
    line = {"custom_id": "r1", "method": "POST", "url": "/v1/chat/completions",
            "body": {"model": "fast", **PROMPT}}
    batch = Batches(client).submit([line], tenant="acme")
    before = client.redis.hgetall(f"cascade:batch:{batch.id}")

    for batch_id in (batch.id, "batch_nobody"):
        with pytest.raises(IdConflict, match=r"^envelope\.batch_id: .* is not a batch of"):
            client.submit(PROMPT, tier="fast", tenant="globex", batch_id=batch_id)

    assert client.redis.hgetall(f"cascade:batch:{batch.id}") == before
    assert queued(client.redis, "fast.alpha") == 1


def test_a_tenant_resubmitting_its_own_ids_gets_them_back_queued_once(
    client: CascadeClient,
) -> None:
    jobs = [_job(f"own-{i}", "acme") for i in range(3)]

    assert client.submit_many(jobs) == client.submit_many(jobs) == ["own-0", "own-1", "own-2"]
    assert queued(client.redis, "fast.alpha") == 3


@pytest.mark.parametrize("suffix", [":attempts", ":result", ":claim"])
def test_an_id_spelling_another_key_of_a_job_is_unknown_never_a_redis_type_error(
    client: CascadeClient, suffix: str
) -> None:
    job_id = client.submit(PROMPT, tier="fast", job_id="order-12")
    client.redis.rpush(f"cascade:job:{job_id}:attempts", "{}")
    client.redis.set(f"cascade:job:{job_id}:claim", "worker-1")

    for read in (client.get, client.status, lambda i: client.wait(i, timeout=0.1)):
        with pytest.raises(UnknownJob):
            read(f"{job_id}{suffix}")


def test_a_wait_listens_on_its_own_jobs_done_channels_not_on_every_job_s_events(
    redis_url: str,
) -> None:
    # Before: wait_many subscribed to the events channel, every status change of every job of
    # every tenant, and parsed all of them to find its own jobs' ends.
    url = redis_url.rsplit("/", 1)[0] + "/3"
    settings = Settings(redis_url=url, config=CATALOG, profile="emulated", key_prefix="waits")
    client = CascadeClient(settings, load_catalog(CATALOG, "emulated"))
    try:
        mine, other = client.submit_many([{"needs": {"tier": "fast"}, "request": PROMPT}] * 2)
        found: dict[str, Any] = {}
        waiting = threading.Thread(
            target=lambda: found.update(client.wait_many([mine], timeout=20)), daemon=True
        )
        waiting.start()
        deadline = time.monotonic() + 10
        while subscribers(client.redis, client.keys.done_channel(mine)) == 0:
            assert time.monotonic() < deadline, "the wait never subscribed to its job's channel"
            time.sleep(0.02)

        assert subscribers(client.redis, client.keys.events_channel()) == 0
        assert subscribers(client.redis, client.keys.done_channel(other)) == 0
        failed = FailedResult(
            job_id=mine, error_class="Cancelled", error_message="cancelled by the test",
            attempts=[], finished_at=datetime.now(UTC),
        )  # fmt: skip
        assert client.store.finish(mine, failed)
        waiting.join(timeout=10)

        assert not waiting.is_alive()
        assert found[mine].error_class == "Cancelled"
    finally:
        client.redis.flushdb()
        client.close()
