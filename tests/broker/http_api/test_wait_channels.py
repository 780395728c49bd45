"""``POST /v1/jobs/wait`` listens on the waited jobs' own done channels, not on the events
channel that carries every job of every tenant; the app runs in-process over a real Redis, no
worker, and the test ends the job itself through the job store."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Any

import pytest
import redis

from broker.jobs import FailedResult
from broker.keys import Keys
from broker.store import JobStore
from tests.broker.http_api.conftest import AUTH_A, ApiFactory, job_body
from tests.redis_writes import subscribers

pytestmark = pytest.mark.integration

PREFIX = "apiwaits"


def test_a_wait_subscribes_to_its_jobs_done_channels_and_returns_when_one_ends(
    make_api: ApiFactory, api_redis: redis.Redis
) -> None:
    keys = Keys(PREFIX)
    with make_api(key_prefix=PREFIX) as api:
        mine = api.post("/v1/jobs", json=job_body(), headers=AUTH_A).json()["id"]
        other = api.post("/v1/jobs", json=job_body(), headers=AUTH_A).json()["id"]
        answer: dict[str, Any] = {}

        def wait() -> None:
            body = {"ids": [mine], "timeout": 20}
            answer.update(api.post("/v1/jobs/wait", json=body, headers=AUTH_A).json())

        waiting = threading.Thread(target=wait, daemon=True)
        waiting.start()
        failed = FailedResult(
            job_id=mine, error_class="Cancelled", error_message="ended by the test",
            attempts=[], tenant="acme", finished_at=datetime.now(UTC),
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 10
            while not (subscribed := subscribers(api_redis, keys.done_channel(mine))):
                if time.monotonic() > deadline:
                    break
                time.sleep(0.02)
            listening = {
                "own done channel": subscribed,
                # before: the wait subscribed to the events channel and read every job's events
                "events channel": subscribers(api_redis, keys.events_channel()),
                "other job's channel": subscribers(api_redis, keys.done_channel(other)),
            }
        finally:  # the job ends either way, so that the wait returns and the app can stop
            ended = JobStore(api_redis, keys, ttl_s=60).finish(mine, failed)
            waiting.join(timeout=10)

    assert listening == {"own done channel": 1, "events channel": 0, "other job's channel": 0}
    assert ended
    assert not waiting.is_alive()
    assert [job["id"] for job in answer["data"]] == [mine]
    assert answer["pending"] == []
