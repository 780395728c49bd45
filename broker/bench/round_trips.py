"""Redis round trips per job on the worker side, counted by the step that made them.

Runs ``workers.runner.JobRunner`` in this process (no Celery) on jobs that succeed at their
first hop, with every redis-py socket write counted and charged to the first function of
cascade's own code (``workers/``, ``routing/``, ``broker/store.py``) on the stack. One write is
one round trip: a pipeline or a Lua script is one, however many commands it holds.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from redis.connection import AbstractConnection

from broker.bench.workload import IDLE_TIER, Workload
from broker.client import CascadeClient

__all__ = ["count_round_trips"]

_OURS = ("/workers/", "/routing/", "/broker/store.py")


def _caller() -> str:
    frame = sys._getframe(2)
    while frame is not None:
        path = frame.f_code.co_filename
        if any(part in path for part in _OURS) and "/workers/context.py" not in path:
            module = path.rsplit("/", 2)
            return f"{module[-2]}/{module[-1].removesuffix('.py')}.{frame.f_code.co_name}"
        frame = frame.f_back  # type: ignore[assignment]
    return "other"


@contextmanager
def _counting() -> Iterator[Counter[str]]:
    counts: Counter[str] = Counter()
    original = AbstractConnection.send_packed_command

    def counted(self: AbstractConnection, command: Any, check_health: bool = True) -> None:
        counts[_caller()] += 1
        original(self, command, check_health)  # type: ignore[no-untyped-call]

    AbstractConnection.send_packed_command = counted  # type: ignore[method-assign]
    try:
        yield counts
    finally:
        AbstractConnection.send_packed_command = original  # type: ignore[method-assign]


def count_round_trips(client: CascadeClient, work: Workload, jobs: int = 20) -> dict[str, Any]:
    """Round trips per successful job, in total and by step."""
    # The bench reaches into the worker here, and only here, to run its code in-process.
    from workers.context import WorkerContext
    from workers.runner import JobRunner

    context = WorkerContext.from_settings(client.settings)
    runner = JobRunner(context, lambda *args: None, "bench-round-trips")
    # the idle tier: no worker consumes its queue, so only this runner touches these jobs
    ids = client.submit_many([{"needs": {"tier": IDLE_TIER}, "request": work.request()}] * jobs)
    with _counting() as counts:
        outcomes = [runner.run(job_id, 0).kind for job_id in ids]
    context.close()
    context.store.client.close()
    return {
        "jobs": jobs,
        "succeeded": outcomes.count("succeeded"),
        "per_job": round(sum(counts.values()) / jobs, 2),
        "by_step": {name: round(n / jobs, 2) for name, n in counts.most_common()},
    }
