"""Cascade's leg: the same requests as jobs through the whole stack, at the same concurrency.

The producer keeps ``concurrency`` jobs in flight, as the other legs keep that many calls in
flight: it opens that many slots over the ramp (``broker/bench/ramp.py``), and each time jobs
end (heard on the completion channel) it submits as many new ones in one ``submit_many``. So a
job's end to end time is cascade's overhead plus the provider's, with no queueing behind a
backlog the other legs do not have.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from broker.bench.procstat import cpu_seconds, load_1m, self_cpu_seconds
from broker.bench.ramp import next_opening_s, slots_open
from broker.bench.stages import JobMarks, event_time, stage_summary
from broker.bench.stats import LegResult, distribution
from broker.bench.workload import TIER, Workload
from broker.client import CascadeClient
from broker.jobs import CompletionResult, FailedResult

__all__ = ["run_cascade"]

_STALL_S = 30.0  # no job ended for this long: the stack is stuck, give up


@dataclass
class _Seen:
    """What the closed loop saw, by job id: submit times (Unix seconds, taken before
    validation and planning), the raw ``at`` of each job's last 'running' event, and when its
    end was read."""

    submitted: dict[str, float] = field(default_factory=dict)
    running: dict[str, str] = field(default_factory=dict)
    heard: dict[str, float] = field(default_factory=dict)

    def note(self, message: Mapping[str, Any] | None) -> str | None:
        """Record an event; the job id if it says the job ended."""
        if message is None or message.get("type") != "message":
            return None
        event = json.loads(message["data"])
        job_id, status = str(event["job_id"]), event.get("status")
        if status == "running":
            self.running[job_id] = event["at"]  # parsed after the run, off the measured CPU
        elif status in ("succeeded", "failed"):
            self.heard[job_id] = time.time()
            return job_id
        return None


def _drive(
    client: CascadeClient, work: Workload, count: int, ramp_s: float, stream: bool = False
) -> tuple[_Seen, float]:
    """Submit ``count`` jobs (streamed jobs with ``stream``) keeping ``concurrency`` in flight
    once the ramp has opened every slot; what was seen of them, and the wall time of the run."""
    job: dict[str, Any] = {"needs": {"tier": TIER}, "request": work.request()}
    if stream:
        job["envelope"] = {"stream": True}
    pubsub = client.redis.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(client.keys.events_channel())
    seen = _Seen()
    submitted = seen.submitted
    in_flight: set[str] = set()
    start = time.perf_counter()
    try:
        last_end = time.monotonic()
        while len(submitted) < count or in_flight:
            elapsed = time.perf_counter() - start
            slots = slots_open(work.concurrency, ramp_s, elapsed)
            room = min(slots - len(in_flight), count - len(submitted))
            if room > 0:
                at = time.time()
                fresh = client.submit_many([job] * room)
                submitted.update(dict.fromkeys(fresh, at))
                in_flight.update(fresh)
            opening = next_opening_s(work.concurrency, ramp_s, time.perf_counter() - start)
            message = pubsub.get_message(timeout=1.0 if opening is None else min(opening, 1.0))
            while message is not None:
                if (ended := seen.note(message)) is not None:
                    in_flight.discard(ended)
                    last_end = time.monotonic()
                message = pubsub.get_message(timeout=0)
            if time.monotonic() - last_end > _STALL_S:
                in_flight -= client.store.results(list(in_flight)).keys()
                if time.monotonic() - last_end > 2 * _STALL_S:
                    raise RuntimeError(f"{len(in_flight)} jobs did not end: the stack is stuck")
    finally:
        pubsub.close()
    return seen, time.perf_counter() - start


def _marks(client: CascadeClient, seen: _Seen) -> dict[str, JobMarks]:
    ids = list(seen.submitted)
    recorded: list[Any] = []
    for index in range(0, len(ids), 1000):
        pipe = client.redis.pipeline(transaction=False)
        for job_id in ids[index : index + 1000]:
            pipe.hget(client.keys.job(job_id), "submitted_at")
        recorded += pipe.execute()
    return {
        job_id: JobMarks(
            submitted=seen.submitted[job_id],
            recorded=None if at is None else float(at),
            running=event_time(seen.running[job_id]) if job_id in seen.running else None,
            heard=seen.heard.get(job_id),
        )
        for job_id, at in zip(ids, recorded, strict=True)
    }


def _results(client: CascadeClient, ids: list[str]) -> list[CompletionResult | FailedResult]:
    found: list[CompletionResult | FailedResult] = []
    for index in range(0, len(ids), 1000):
        found += client.store.results(ids[index : index + 1000]).values()
    return found


def run_cascade(
    client: CascadeClient,
    work: Workload,
    pids: Mapping[str, int],
    *,
    warmup: int = 0,
    stream: bool = False,
) -> LegResult:
    """``pids``: the stack's processes whose CPU counts toward cascade (worker, redis);
    ``stream``: every job a streamed job (the ``cascade-stream`` leg)."""
    if warmup:
        _drive(client, work, warmup, ramp_s=0.0, stream=stream)
    commands_before = client.redis.info("commandstats")
    load_before, cpu_before = load_1m(), self_cpu_seconds()
    others_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    seen, wall = _drive(client, work, work.jobs, work.ramp_s, stream)
    submitted = seen.submitted
    ids = list(submitted)
    cpu = {"producer": round(self_cpu_seconds() - cpu_before, 4)}
    cpu |= {name: round(cpu_seconds(pid) - others_before[name], 4) for name, pid in pids.items()}
    load_after = load_1m()
    commands = _per_job_commands(commands_before, client.redis.info("commandstats"), len(ids))
    results = _results(client, ids)
    done = [item for item in results if isinstance(item, CompletionResult)]
    end_to_end = [item.finished_at.timestamp() - submitted[item.job_id] for item in done]
    calls = [sum(attempt.duration_s for attempt in item.attempts) for item in done]
    return LegResult(
        name="cascade-stream" if stream else "cascade",
        jobs=work.jobs,
        ok=len(done),
        wall_s=round(wall, 4),
        latency=distribution(end_to_end),
        overhead=distribution([max(0.0, e - c) for e, c in zip(end_to_end, calls, strict=True)]),
        cpu_s=cpu,
        load_avg=(load_before, load_after),
        extra={
            "failed": len(results) - len(done),
            # the provider's time as the worker saw it (HTTP included), for comparison with
            # the emulator's configured latency
            "call": distribution(calls),
            "redis_commands_per_job": commands,
            # the overhead cut into stages (broker/bench/stages.py)
            "stages_ms": stage_summary(_marks(client, seen), done),
        },
    )


def _per_job_commands(
    before: Mapping[str, Any], after: Mapping[str, Any], jobs: int
) -> dict[str, float]:
    """Redis commands the server ran per job during the leg, by command (Lua's inner calls
    included), from INFO commandstats."""
    counts: dict[str, float] = {}
    for name, stats in after.items():
        calls = int(stats["calls"]) - int(before.get(name, {}).get("calls", 0))
        if calls:
            counts[name.removeprefix("cmdstat_")] = round(calls / max(jobs, 1), 2)
    return dict(sorted(counts.items(), key=lambda item: -item[1]))
