"""How many scripts Redis runs for one delivery, through the runner against a real Redis and the
emulator over HTTP: the scripts of each round trip are folded into one (broker/script_batch.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from broker.jobs import JobStatus
from broker.local_stack import LocalStack
from tests.redis_writes import command_calls, count_writes
from tests.workers.runners import InProcessWorker
from workers.runner import JobRunner

pytestmark = pytest.mark.integration

HELLO = {"needs": {"tier": "fast"}, "request": {"messages": [{"role": "user", "content": "hi"}]}}


@pytest.fixture
def worker(redis_url: str) -> Iterator[InProcessWorker]:
    private = redis_url.rsplit("/", 1)[0] + "/11"
    with LocalStack(redis_url=private) as stack:
        stack.start_emulator()
        opened = InProcessWorker.open(private, stack.emulator_url)
        opened.client.flushdb()
        try:
            yield opened
        finally:
            opened.client.flushdb()
            opened.close()


def test_a_first_hop_success_runs_one_script_per_round_trip_three_in_all(
    worker: InProcessWorker, monkeypatch: pytest.MonkeyPatch
) -> None:
    def publish(*_: Any) -> None:
        raise AssertionError("a first-hop success publishes nothing")

    runner = JobRunner(worker.context, publish, "alpha@test")
    assert runner.run(worker.submit(HELLO).id, 0).kind == "succeeded"  # the scripts loaded
    job_id = worker.submit(HELLO).id
    scripts_before = command_calls(worker.client, "evalsha")
    sent = count_writes(monkeypatch)

    outcome = runner.run(job_id, 0)
    round_trips = len(sent)

    assert outcome.kind == "succeeded"
    assert round_trips == 3  # begin, admission, finish
    assert command_calls(worker.client, "evalsha") - scripts_before == 3
    result = worker.store.result(job_id)
    assert result is not None and result.status is JobStatus.SUCCEEDED
