"""The design's floor: what a job costs before any of cascade's own work, on this machine.

cascade delivers each job as one Celery message to a worker thread that makes the provider call
with a blocking httpx client. Two costs of that come with the design, whatever cascade does
around them, and both are measured here in the bench's own run:

- **the engine**: Celery's CPU per message of a task that does nothing, worker and Redis
  together, with cascade's Celery settings and transport (``broker/bench/celery_floor.py``),
  the messages sent at the rate the legs ran at; task events as the bench's workers send them;
- **the call from a thread**: the bench's request sent by a pool of as many threads as calls in
  flight, each with a blocking ``httpx.Client`` (pools of the direct leg's size), against the
  same emulator, the slots opened over the same ramp. It costs a thread's wake-ups and the GIL's
  hand-offs, which the direct leg's one asyncio loop does not pay.

Their sum over the direct leg's CPU per call is the lowest CPU ratio that this design can reach
on the machine: a ratio target below it cannot be met by trimming cascade's own work, and
cascade's CPU above the floor is what its own work (validation, planning, the job's scripts,
admission, accounting, results) costs (docs/performance.md, "Issue 18, seventh pass").
"""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass

import httpx

from broker.bench.direct import CONNECTIONS_PER_CLIENT
from broker.bench.procstat import self_cpu_seconds
from broker.bench.ramp import next_opening_s, slots_open
from broker.bench.workload import PROVIDER, Workload

__all__ = ["DesignFloor", "floor_against", "measure_design_floor", "threaded_call_cpu_ms"]


@dataclass(frozen=True, slots=True)
class DesignFloor:
    """CPU milliseconds per job, measured."""

    celery_worker_ms: float
    celery_redis_ms: float
    threaded_call_ms: float
    task_events: bool

    @property
    def total_ms(self) -> float:
        return round(self.celery_worker_ms + self.celery_redis_ms + self.threaded_call_ms, 3)

    def as_dict(self) -> dict[str, float | bool]:
        return {**asdict(self), "total_ms": self.total_ms}


def threaded_call_cpu_ms(emulator_url: str, work: Workload) -> float:
    """This process's CPU milliseconds per call for ``work.jobs`` calls made from
    ``work.concurrency`` threads, the slots opened over ``work.ramp_s``."""
    url = f"{emulator_url}/{PROVIDER}/v1/chat/completions"
    body = json.dumps(work.openai_body()).encode()
    headers = {"authorization": "Bearer emulated", "content-type": "application/json"}
    # the direct leg's pools, the worker's size too (workers/http_clients.py): the two call legs
    # differ only in threads against one event loop
    per_client = min(work.concurrency, CONNECTIONS_PER_CLIENT)
    limits = httpx.Limits(max_connections=per_client, max_keepalive_connections=per_client)
    clients = [
        httpx.Client(limits=limits, timeout=120) for _ in range(-(-work.concurrency // per_client))
    ]
    room = threading.Condition()
    in_flight = 0

    def send(index: int) -> None:
        client = clients[index % len(clients)]
        with client.stream("POST", url, content=body, headers=headers) as response:
            response.read()
        response.raise_for_status()
        response.json()

    def call(index: int) -> None:
        nonlocal in_flight
        try:
            send(index)
        finally:
            with room:
                in_flight -= 1
                room.notify()

    try:
        with ThreadPoolExecutor(work.concurrency, thread_name_prefix="floor-call") as pool:
            list(pool.map(send, range(min(work.concurrency, 64))))  # connections opened
            cpu_before, start = self_cpu_seconds(), time.perf_counter()
            futures = []
            for index in range(work.jobs):
                with room:
                    while in_flight >= slots_open(
                        work.concurrency, work.ramp_s, time.perf_counter() - start
                    ):
                        opening = next_opening_s(
                            work.concurrency, work.ramp_s, time.perf_counter() - start
                        )
                        room.wait(timeout=1.0 if opening is None else max(opening, 0.001))
                    in_flight += 1
                futures.append(pool.submit(call, index))
            for future in futures:
                future.result()  # a failed call fails the measurement, loudly
            return round(1000 * (self_cpu_seconds() - cpu_before) / work.jobs, 3)
    finally:
        for client in clients:
            client.close()


def measure_design_floor(
    emulator_url: str, work: Workload, *, task_events: bool, rate_per_s: float | None
) -> DesignFloor:
    """Both parts of the floor, one after the other: the engine's on a private stack of its
    own, with as many no-op messages as the workload has jobs, sent at ``rate_per_s`` (the
    legs' rate: a flood would cost Celery less per message than the legs' jobs do)."""
    # lazily: ``python -m broker.bench.celery_floor`` runs that module as __main__
    from broker.bench.celery_floor import measure_floor

    engine = measure_floor(
        max(work.jobs, 100), task_events, concurrency=work.concurrency, rate_per_s=rate_per_s
    )
    return DesignFloor(
        celery_worker_ms=engine["worker_ms_per_message"],
        celery_redis_ms=engine["redis_ms_per_message"],
        threaded_call_ms=threaded_call_cpu_ms(emulator_url, work),
        task_events=task_events,
    )


def floor_against(
    floor: DesignFloor, direct_s_per_job: float | None, cascade_s_per_job: float | None
) -> dict[str, float | bool | None]:
    """The floor, its ratio to the direct call's CPU, and cascade's CPU per job above it, in
    milliseconds and over the direct call's (what cascade's own work costs, in calls)."""
    direct_ms = None if not direct_s_per_job else direct_s_per_job * 1000
    cascade_ms = None if not cascade_s_per_job else cascade_s_per_job * 1000
    above = None if cascade_ms is None else round(cascade_ms - floor.total_ms, 3)
    return {
        **floor.as_dict(),
        "vs_direct_x": None if direct_ms is None else round(floor.total_ms / direct_ms, 3),
        "cascade_above_floor_ms": above,
        "cascade_above_floor_vs_direct_x": (
            None if above is None or direct_ms is None else round(above / direct_ms, 3)
        ),
    }
