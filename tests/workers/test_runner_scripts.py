"""How many scripts Redis runs for one delivery, through the runner against a real Redis and the
emulator over HTTP: the scripts of each round trip are folded into one (broker/script_batch.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from broker.catalog_file import load_catalog
from broker.jobs import CompletionJob, JobStatus
from broker.keys import Keys
from broker.local_stack import LocalStack
from broker.settings import Settings
from broker.store import JobStore
from routing.latency import LatencyBook
from routing.planner import plan
from routing.spend import SpendLedger
from tests.redis_writes import count_writes
from workers.admission import Gatekeeper
from workers.context import WorkerContext
from workers.runner import JobRunner

pytestmark = pytest.mark.integration

CATALOG = str(Path(__file__).parents[1] / "fixtures" / "catalog.yaml")


@pytest.fixture
def stack(redis_url: str) -> Iterator[tuple[JobRunner, JobStore, redis.Redis]]:
    private = redis_url.rsplit("/", 1)[0] + "/11"
    client = redis.Redis.from_url(private)
    client.flushdb()
    with LocalStack(redis_url=private) as local:
        local.start_emulator()
        settings = Settings(redis_url=private, config=CATALOG)
        catalog = load_catalog(CATALOG).with_emulator(local.emulator_url)
        keys = Keys(settings.key_prefix)
        store = JobStore(client, keys, settings.result_ttl_s)
        context = WorkerContext(
            settings, catalog, store, Gatekeeper(client, keys, catalog),
            SpendLedger(client, keys, catalog), LatencyBook(client, keys),
        )  # fmt: skip

        def publish(*_: Any) -> None:
            raise AssertionError("a first-hop success publishes nothing")

        try:
            yield JobRunner(context, publish, "alpha@test"), store, client
        finally:
            context.close()
            client.flushdb()
            client.close()


def _submitted(store: JobStore, client: redis.Redis) -> str:
    job = CompletionJob.model_validate(
        {"needs": {"tier": "fast"}, "request": {"messages": [{"role": "user", "content": "hi"}]}}
    )
    pipe = client.pipeline()
    store.add_to_pipeline(pipe, job, list(plan(job, load_catalog(CATALOG)).targets))
    pipe.execute()
    return job.id


def _script_calls(client: redis.Redis) -> int:
    return int(client.info("commandstats").get("cmdstat_evalsha", {}).get("calls", 0))


def test_a_first_hop_success_runs_one_script_per_round_trip_three_in_all(
    stack: tuple[JobRunner, JobStore, redis.Redis], monkeypatch: pytest.MonkeyPatch
) -> None:
    runner, store, client = stack
    assert runner.run(_submitted(store, client), 0).kind == "succeeded"  # the scripts loaded
    job_id = _submitted(store, client)
    scripts_before = _script_calls(client)
    sent = count_writes(monkeypatch)

    outcome = runner.run(job_id, 0)
    round_trips = len(sent)

    assert outcome.kind == "succeeded"
    assert round_trips == 3  # begin, admission, finish
    assert _script_calls(client) - scripts_before == 3
    result = store.result(job_id)
    assert result is not None and result.status is JobStatus.SUCCEEDED
