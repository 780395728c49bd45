"""All or nothing when Redis fails part-way: a private ``redis-server`` whose ``maxmemory`` is
set so low that a submit runs out of memory in the middle, then raised again. No worker runs:
the test counts job records and the jobs waiting for the queue (in the scheduler, where a
worker's dispatcher would find them).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from broker.batches import Batches, BatchIncomplete, BatchStatus
from broker.catalog_file import load_catalog
from broker.client import CascadeClient, IdConflict
from broker.local_stack import LocalStack
from broker.settings import Settings
from tests.queued import queued_job_ids

pytestmark = pytest.mark.integration

CATALOG = str(Path(__file__).parents[1] / "fixtures" / "catalog.yaml")
QUEUE = "fast.alpha"
# Room for about two of the client's chunks of 1,000 jobs, so the third one fails.
HEADROOM_BYTES = 4_000_000


@pytest.fixture()
def client() -> Iterator[CascadeClient]:
    with LocalStack() as stack:
        url = stack.start_redis()
        settings = Settings(redis_url=url, config=CATALOG, profile="emulated")
        cascade = CascadeClient(settings, load_catalog(CATALOG, "emulated"))
        yield cascade
        cascade.close()


def jobs(count: int) -> list[dict[str, Any]]:
    prompt = {"messages": [{"role": "user", "content": "Say hello. " * 20}]}
    return [
        {"needs": {"tier": "fast"}, "request": prompt,
         "envelope": {"id": f"order-{number}", "tenant": "acme"}}
        for number in range(count)
    ]


def lines(count: int) -> list[str]:
    body = {"model": "fast", "messages": [{"role": "user", "content": "Say hello. " * 20}]}
    return [
        json.dumps({"custom_id": f"r{i}", "method": "POST", "url": "/v1/chat/completions",
                    "body": body})
        for i in range(count)
    ]


def squeeze(connection: redis.Redis) -> None:
    used = int(connection.info("memory")["used_memory"])
    connection.config_set("maxmemory", used + HEADROOM_BYTES)


def submit_out_of_memory(batches: Batches) -> BatchIncomplete:
    """A 5,000-line batch submitted into a Redis that runs out of memory part-way."""
    squeeze(batches.redis)
    with pytest.raises(BatchIncomplete) as failed:
        batches.submit_lines(lines(5000), tenant="acme", batch_id="nightly")
    return failed.value


def stored_jobs(connection: redis.Redis) -> set[str]:
    return {
        key.decode().removeprefix("cascade:job:")
        for key in connection.scan_iter("cascade:job:*", count=1000)
        if key.count(b":") == 2
    }


def queued_jobs(connection: redis.Redis) -> list[str]:
    """The id of every job waiting for the queue (scheduler and list), duplicates kept."""
    return queued_job_ids(connection, QUEUE)


def test_a_submit_that_runs_out_of_memory_leaves_every_stored_job_queued_and_a_retry_the_rest(
    client: CascadeClient,
) -> None:
    connection = client.redis
    squeeze(connection)

    with pytest.raises(redis.ResponseError):  # OOM, from a script or a pipeline
        client.submit_many(jobs(5000))

    stored, queued = stored_jobs(connection), queued_jobs(connection)
    assert 0 < len(stored) < 5000
    assert sorted(queued) == sorted(stored)  # no record without its message, none twice

    connection.config_set("maxmemory", 0)
    client.submit_many(jobs(5000))

    queued = queued_jobs(connection)
    assert len(queued) == len(set(queued)) == 5000
    assert set(queued) == stored_jobs(connection) == {f"order-{n}" for n in range(5000)}


def test_a_batch_that_runs_out_of_memory_is_visible_cancellable_and_completed_by_a_retry(
    client: CascadeClient,
) -> None:
    batches, connection = Batches(client), client.redis

    failed = submit_out_of_memory(batches)

    assert failed.batch_id == "nightly" and not failed.cancelled
    record = batches.get("nightly", tenant="acme")
    assert record.status == BatchStatus.VALIDATING and record.counts.total == 5000
    assert [item.id for item in batches.list_batches("acme")[0]] == ["nightly"]
    stored, queued = stored_jobs(connection), queued_jobs(connection)
    assert 0 < len(stored) < 5000 and sorted(queued) == sorted(stored)

    connection.config_set("maxmemory", 0)
    retried = batches.submit_lines(lines(5000), tenant="acme", batch_id="nightly")

    assert retried.status == BatchStatus.IN_PROGRESS and retried.counts.queued == 5000
    queued = queued_jobs(connection)
    assert len(queued) == len(set(queued)) == 5000
    assert set(queued) == set(batches.job_ids("nightly")) == stored_jobs(connection)


def test_an_incomplete_batch_cancelled_ends_every_line_and_a_retry_then_queues_nothing(
    client: CascadeClient,
) -> None:
    batches, connection = Batches(client), client.redis
    submit_out_of_memory(batches)
    queued_before = len(queued_jobs(connection))
    connection.config_set("maxmemory", 0)

    cancelled = batches.cancel("nightly", tenant="acme")
    batches.submit_lines(lines(5000), tenant="acme", batch_id="nightly")

    assert cancelled.status == BatchStatus.CANCELLED
    assert cancelled.counts.cancelled == 5000
    assert len(queued_jobs(connection)) == queued_before
    assert batches.get("nightly").status == BatchStatus.CANCELLED
    # A line that was never written is still the batch's: no other tenant may take its id.
    unwritten = next(i for i in batches.job_ids("nightly") if i not in stored_jobs(connection))
    with pytest.raises(IdConflict):
        client.submit({"messages": [{"role": "user", "content": "Hi"}]}, tier="fast",
                      job_id=unwritten, tenant="globex")
    assert len(queued_jobs(connection)) == queued_before
