"""A delivery's claim given back when Redis was away as the delivery ended
(``workers/claim_release.py``): the pauses as a pure function, and the runner against a private
Redis that restarts mid-call and the emulator over HTTP."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
import redis

from broker.local_stack import LocalStack
from tests.workers.runners import InProcessWorker
from workers.claim_release import release_pauses
from workers.delivery import WORKER_LOST
from workers.runner import JobRunner


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
        worker = InProcessWorker.open(url, stack.emulator_url)
        client, keys, store = worker.client, worker.keys, worker.store
        hello = {"messages": [{"role": "user", "content": "hi"}]}
        job = worker.submit({"needs": {"tier": "fast"}, "request": hello})
        published: list[tuple[Any, ...]] = []
        runner = JobRunner(worker.context, lambda *sent: published.append(sent), "alpha@test")

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
            worker.close()
