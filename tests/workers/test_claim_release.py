"""A delivery's claim given back when Redis was away as the delivery ended
(``workers/claim_release.py``): the pauses as a pure function, and the runner against a private
Redis that restarts mid-call and the emulator over HTTP."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
import redis

from broker.catalog_file import load_catalog
from broker.jobs import CompletionJob
from broker.keys import Keys
from broker.local_stack import LocalStack
from broker.settings import Settings
from broker.store import JobStore
from routing.latency import LatencyBook
from routing.planner import plan
from routing.spend import SpendLedger
from workers.admission import Gatekeeper
from workers.claim_release import release_pauses
from workers.context import WorkerContext
from workers.delivery import WORKER_LOST
from workers.runner import JobRunner

CATALOG = str(Path(__file__).parents[1] / "fixtures" / "catalog.yaml")


def test_the_pauses_double_up_to_two_seconds_and_stay_within_the_patience() -> None:
    pauses = release_pauses(30.0)

    assert pauses[:5] == [0.1, 0.2, 0.4, 0.8, 1.6]
    assert max(pauses) == 2.0
    assert 28.0 < sum(pauses) <= 30.0
    assert release_pauses(0.05) == []


@pytest.mark.integration
def test_a_delivery_whose_finish_found_redis_away_gives_its_claim_back_once_redis_returns() -> None:
    """Redis stops while the provider is answering and comes back seconds later: the finish
    fails and the message would be handed back; the claim is released first, so the job runs
    again at once (recording the interrupted call) instead of waiting out the claim's TTL."""
    with LocalStack() as stack:
        url = stack.start_redis(appendonly=True)
        stack.start_emulator(latency_s=1.0)
        client = redis.Redis.from_url(url)
        settings = Settings(redis_url=url, config=CATALOG)
        catalog = load_catalog(CATALOG).with_emulator(stack.emulator_url)
        keys = Keys(settings.key_prefix)
        store = JobStore(client, keys, settings.result_ttl_s)
        hello = {"messages": [{"role": "user", "content": "hi"}]}
        job = CompletionJob.model_validate({"needs": {"tier": "fast"}, "request": hello})
        pipe = client.pipeline()
        store.add_to_pipeline(pipe, job, list(plan(job, catalog).targets))
        pipe.execute()
        published: list[tuple[Any, ...]] = []
        context = WorkerContext(
            settings, catalog, store, Gatekeeper(client, keys, catalog),
            SpendLedger(client, keys, catalog), LatencyBook(client, keys),
        )  # fmt: skip
        runner = JobRunner(context, lambda *message: published.append(message), "alpha@test")

        def restart_mid_call() -> None:
            time.sleep(0.3)  # the call is under way: begun and admitted
            stack.restart_redis(down_s=2.0)

        restarter = threading.Thread(target=restart_mid_call)
        restarter.start()
        try:
            with pytest.raises(redis.ConnectionError):
                runner.run(job.id, 0)
            restarter.join()

            assert client.exists(keys.claim(job.id)) == 0
            again = runner.run(job.id, 0)
            assert again.kind == "succeeded", again.detail
            assert published == []
            result = store.result(job.id)
            assert result is not None
            assert [attempt.error_class for attempt in result.attempts] == [WORKER_LOST, None]
        finally:
            restarter.join()
            context.close()
            client.close()
