"""A busy worker survives Redis restarts: it stays up, reconnects and finishes every job.

Each restart lands while the worker has calls in flight (late ack: their messages sit in the
channel's unacked bookkeeping), which is when kombu's channel close tried to put them back and,
before ``workers/broker_transport.py`` handled it, took the whole worker down.
"""

from __future__ import annotations

import subprocess
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


def received_at_least(emulator: Emulator, worker: subprocess.Popen[bytes], count: int) -> bool:
    assert worker.poll() is None, "the worker exited on a Redis restart"
    return int(emulator.calls()["total"]) >= count


def test_a_busy_worker_stays_up_through_redis_restarts_and_finishes_every_job(
    tmp_path: Path,
) -> None:
    # A few calls in flight on a worker with free slots: its channel sits in BRPOP on an empty
    # list with messages unacknowledged, the state in which a restart used to kill it.
    in_flight, restarts = 3, 3
    with cascade_stack(tmp_path) as (stack, emulator):
        emulator.latency(providers={"beta": 2.0})
        stack.start_worker("beta", concurrency=8)
        stack.wait_for_workers()
        worker = stack.workers["beta"]
        ids: list[str] = []
        with client_for(stack, CATALOG) as client:
            for _ in range(restarts):
                ids += submit(client, "steady", in_flight)
                wanted = len(ids)
                received = partial(received_at_least, emulator, worker, wanted)
                wait_for(received, 60, f"{wanted} calls")
                stack.restart_redis(down_s=1.0)
                assert worker.poll() is None, "the worker exited on a Redis restart"
            assert_each_ended_once(client, ids, results_within(client, ids, timeout=120))
        log = stack.log_path("worker-beta").read_text(errors="replace")
        assert worker.poll() is None, "the worker exited on a Redis restart"
        assert "Unrecoverable error" not in log
