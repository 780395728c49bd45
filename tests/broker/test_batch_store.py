"""Batch records in a real Redis: ids are the tenant's own, and the tenant's set stays bounded."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from broker.batches import Batches, BatchIdTaken, BatchIncomplete, BatchStatus, UnknownBatch
from broker.catalog_file import load_catalog
from broker.client import CascadeClient
from broker.settings import Settings
from tests.queued import queued

pytestmark = pytest.mark.integration

CATALOG = str(Path(__file__).parents[1] / "fixtures" / "catalog.yaml")
TTL_S = 3600


@pytest.fixture()
def batches(redis_url: str) -> Iterator[Batches]:
    url = redis_url.rsplit("/", 1)[0] + "/11"
    redis.Redis.from_url(url).flushdb()
    settings = Settings(redis_url=url, config=CATALOG, profile="emulated", result_ttl_s=TTL_S)
    client = CascadeClient(settings, load_catalog(CATALOG, "emulated"))
    yield Batches(client)
    client.redis.flushdb()
    client.close()


def lines(count: int) -> list[str]:
    body = {"model": "fast", "messages": [{"role": "user", "content": "Hi"}]}
    return [
        json.dumps({"custom_id": f"r{i}", "method": "POST", "url": "/v1/chat/completions",
                    "body": body})
        for i in range(count)
    ]


def test_another_tenants_batch_id_is_refused_and_their_batch_is_left_as_it_was(
    batches: Batches,
) -> None:
    batches.submit_lines(lines(2), tenant="acme", batch_id="nightly")
    before = batches.redis.hgetall("cascade:batch:nightly")

    with pytest.raises(BatchIdTaken, match="batch_id: 'nightly' is already taken"):
        batches.submit_lines(lines(2), tenant="globex", batch_id="nightly")

    assert batches.redis.hgetall("cascade:batch:nightly") == before
    assert queued(batches.redis, "fast.alpha") == 2
    assert batches.list_batches("globex") == ([], False)


def test_a_batch_submitted_again_by_its_tenant_queues_nothing_twice(batches: Batches) -> None:
    first = batches.submit_lines(lines(3), tenant="acme", batch_id="nightly")
    again = batches.submit_lines(lines(3), tenant="acme", batch_id="nightly")

    assert first.id == again.id == "nightly" and again.status == BatchStatus.IN_PROGRESS
    assert queued(batches.redis, "fast.alpha") == 3
    assert batches.redis.llen("cascade:batch:nightly:jobs") == 3


@pytest.mark.parametrize("batch_id", ["b:jobs", "b:custom_ids", "batch_x:events"])
def test_a_batch_id_that_spells_another_keys_name_is_an_unknown_batch(
    batches: Batches, batch_id: str
) -> None:
    batches.submit_lines(lines(1), tenant="acme", batch_id="b")
    with pytest.raises(UnknownBatch):
        batches.get(batch_id, tenant="acme")
    with pytest.raises(ValueError, match="^batch_id: must be .*no ':'"):
        batches.submit_lines(lines(1), tenant="acme", batch_id=batch_id)
    with pytest.raises(ValueError, match="^tenant: must be .*no ':'"):
        batches.submit_lines(lines(1), tenant=f"acme{batch_id}")


def test_the_tenants_batch_set_expires_and_drops_entries_older_than_the_ttl(
    batches: Batches,
) -> None:
    key = "cascade:tenant:acme:batches"
    batches.redis.zadd(key, {"long-gone": time.time() - TTL_S - 60})

    batches.submit_lines(lines(1), tenant="acme", batch_id="fresh")

    assert batches.redis.zrange(key, 0, -1) == [b"fresh"]
    assert 0 < batches.redis.ttl(key) <= TTL_S


def test_listing_reads_the_tenants_set_a_page_at_a_time_and_skips_expired_batches(
    batches: Batches, monkeypatch: pytest.MonkeyPatch
) -> None:
    for number in range(25):
        batches.submit_lines(lines(1), tenant="acme", batch_id=f"b{number:02d}")
    batches.redis.delete("cascade:batch:b20")  # expired before its entry in the set
    ranges: list[tuple[int, int]] = []
    original = batches.redis.zrevrange

    def recorded(key: str, start: int, end: int, *args: Any, **kwargs: Any) -> Any:
        ranges.append((start, end))
        return original(key, start, end, *args, **kwargs)

    monkeypatch.setattr(batches.redis, "zrevrange", recorded)

    first, more = batches.list_batches("acme", limit=5)
    rest, no_more = batches.list_batches("acme", after=first[-1].id, limit=30)

    assert [record.id for record in first] == ["b24", "b23", "b22", "b21", "b19"] and more
    assert [record.id for record in rest] == [f"b{n:02d}" for n in range(18, -1, -1)]
    assert not no_more
    assert all(end != -1 and end - start <= 30 for start, end in ranges)
    assert batches.redis.zscore("cascade:tenant:acme:batches", "b20") is None


def test_a_batch_whose_job_id_another_tenant_took_mid_enqueue_is_cancelled_sparing_that_job(
    batches: Batches, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = batches.client
    enqueue = client.enqueue

    def raced(planned: Any, **options: Any) -> None:
        # globex takes a line's id after the checks, before the line is written
        theirs = {"needs": {"tier": "fast"}, "request": {"messages": [{"role": "user",
                  "content": "Hi"}]}, "envelope": {"id": "nightly-2", "tenant": "globex"}}
        enqueue(client.plan_many([theirs]))
        enqueue(planned, **options)

    monkeypatch.setattr(client, "enqueue", raced)

    with pytest.raises(BatchIncomplete) as failed:
        batches.submit_lines(lines(2), tenant="acme", batch_id="nightly",
                             cancel_if_incomplete=True)

    assert failed.value.cancelled
    record = batches.get("nightly", tenant="acme")
    assert record.status == BatchStatus.CANCELLING and record.counts.cancelled == 1
    assert client.store.result("nightly-2") is None  # globex's job is globex's, still to run
    assert client.redis.hget("cascade:job:nightly-2", "status") == b"queued"
    assert queued(client.redis, "fast.alpha") == 1
