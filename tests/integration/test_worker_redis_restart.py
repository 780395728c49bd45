"""A busy worker survives Redis restarts: it stays up, reconnects and finishes every job.

Each restart lands while the worker has calls in flight (late ack: their messages sit in the
channel's unacked bookkeeping), which is when kombu's channel close tried to put them back and,
before ``workers/broker_transport.py`` handled it, took the whole worker down.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import pytest

from tests.integration.support import Emulator, client_for, wait_for
from tests.integration.test_resilience import (
    assert_each_ended_once,
    cascade_stack,
    results_within,
    submit,
)

pytestmark = pytest.mark.integration

CATALOG = str(Path(__file__).parents[1] / "fixtures" / "catalog_resilience.yaml")


def answered_at_least(emulator: Emulator, count: int) -> bool:
    return emulator.answered() >= count


def test_a_busy_worker_stays_up_through_redis_restarts_and_finishes_every_job(
    tmp_path: Path,
) -> None:
    jobs, restarts = 60, 3
    with cascade_stack(tmp_path) as (stack, emulator):
        emulator.latency(providers={"beta": 0.4})
        stack.start_worker("beta", concurrency=4)
        stack.wait_for_workers()
        worker = stack.workers["beta"]
        with client_for(stack, CATALOG) as client:
            ids = submit(client, "steady", jobs)
            for round_ in range(1, restarts + 1):
                wanted = round_ * jobs // (restarts + 2)
                wait_for(partial(answered_at_least, emulator, wanted), 60, f"{wanted} answers")
                stack.restart_redis(down_s=1.0)
                assert worker.poll() is None, "the worker exited on a Redis restart"
            assert_each_ended_once(client, ids, results_within(client, ids, timeout=120))
        log = stack.log_path("worker-beta").read_text(errors="replace")
        assert worker.poll() is None, "the worker exited on a Redis restart"
        assert "Unrecoverable error" not in log
