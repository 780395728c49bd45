"""One bench run: start a private stack, run every leg ``repeat`` times, enqueue a batch.

The legs of one repeat run back to back against the same emulator process, so they see the
same machine; running them interleaved across repeats spreads a neighbour's load over all. The
direct leg runs again after the cascade legs of each repeat, to see how far the machine's speed
moved while they ran (``broker/bench/drift.py``).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from broker.bench.cascade_leg import run_cascade
from broker.bench.cpu_probe import read_probes
from broker.bench.direct import run_direct
from broker.bench.drift import leg_order
from broker.bench.enqueue import run_enqueue_apart
from broker.bench.floor import DesignFloor, measure_design_floor
from broker.bench.litellm_leg import litellm_missing, run_litellm
from broker.bench.procstat import cpu_seconds
from broker.bench.report import build_report, leg_median
from broker.bench.round_trips import count_round_trips
from broker.bench.stats import LegResult
from broker.bench.workload import PROVIDER, Workload, bench_catalog
from broker.catalog_file import load_catalog
from broker.client import CascadeClient
from broker.local_stack import LocalStack
from broker.settings import Settings

__all__ = ["BenchConfig", "run_bench", "stack_client"]


@dataclass(frozen=True, slots=True)
class BenchConfig:
    jobs: int = 2000
    concurrency: int = 256
    latency_s: float = 1.0
    ramp_s: float | None = None  # default: one emulator latency (broker/bench/ramp.py)
    repeat: int = 1
    warmup: int = 64
    worker_processes: int = field(default_factory=lambda: os.cpu_count() or 1)
    # threads per worker process; default: the catalog's per-worker concurrency, as `cascade
    # worker` starts in production (a worker with only its share of the in-flight jobs makes
    # each new job wait for a finished one's ack: docs/performance.md)
    worker_concurrency: int | None = None
    pool: str = "threads"
    round_trip_jobs: int = 20
    enqueue_jobs: int = 100_000
    enqueue_chunk: int = 1000
    legs: tuple[str, ...] = ("direct", "litellm", "cascade")
    log_dir: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    # time each worker step's CPU (broker/bench/cpu_probe.py) and report it per job
    cpu_probe: bool = False
    # also measure the design's floor (broker/bench/floor.py) and set cascade's CPU against it
    floor: bool = False

    @property
    def ramp(self) -> float:
        """The ramp in seconds: ``ramp_s``, else one emulator latency."""
        return self.latency_s if self.ramp_s is None else self.ramp_s

    def workload(self) -> Workload:
        return Workload(self.jobs, self.concurrency, self.latency_s, self.ramp)


def _stack(config: BenchConfig, catalog_path: str) -> LocalStack:
    env = {"CASCADE_WORKER_POOL": config.pool, **config.env}
    stack = LocalStack(
        config=catalog_path,
        log_dir=Path(config.log_dir) if config.log_dir else None,
        extra_env=env,
    )
    stack.start_redis()
    stack.start_emulator(latency_s=config.latency_s)
    threads = config.worker_concurrency or config.concurrency
    for index in range(config.worker_processes):
        stack.start_worker(PROVIDER, name=f"{PROVIDER}-{index}", concurrency=threads)
    stack.wait_for_workers(timeout=60)
    return stack


def stack_client(stack: LocalStack, catalog_path: str) -> CascadeClient:
    """A producer of the stack's Redis, the catalog's emulated profile on its emulator."""
    assert stack.redis_url and stack.emulator_url
    settings = Settings(
        redis_url=stack.redis_url,
        config=catalog_path,
        profile="emulated",
        emulator_url=stack.emulator_url,
    )
    catalog = load_catalog(catalog_path, "emulated", emulator_url=stack.emulator_url)
    return CascadeClient(settings, catalog)


def _legs(
    config: BenchConfig, stack: LocalStack, client: CascadeClient
) -> dict[str, Callable[[], LegResult]]:
    work, url = config.workload(), stack.emulator_url
    pids = {f"worker-{label}": process.pid for label, process in stack.workers.items()}
    if stack.redis_process is not None:
        pids["redis"] = stack.redis_process.pid
    return {
        "direct": lambda: run_direct(url, work, warmup=config.warmup),
        "litellm": lambda: run_litellm(url, work, warmup=config.warmup),
        "cascade": lambda: run_cascade(client, work, pids, warmup=config.warmup),
        "cascade-stream": lambda: run_cascade(
            client, work, pids, warmup=config.warmup, stream=True
        ),
    }


def _timed(run: Callable[[], LegResult], emulator_pid: int | None) -> dict[str, Any]:
    before = cpu_seconds(emulator_pid) if emulator_pid else 0.0
    result = run()
    if emulator_pid:
        result.extra["emulator_cpu_s"] = round(cpu_seconds(emulator_pid) - before, 4)
    return result.as_dict()


def run_bench(config: BenchConfig) -> dict[str, Any]:
    """Run the bench; the report as a JSON-ready dict (see ``broker.bench.report``)."""
    skipped: dict[str, str] = {}
    if "litellm" in config.legs and (reason := litellm_missing()) is not None:
        skipped["litellm"] = reason
    with tempfile.TemporaryDirectory(prefix="cascade-bench-") as folder:
        catalog_path = os.path.join(folder, "catalog.yaml")
        Path(catalog_path).write_text(yaml.safe_dump(bench_catalog(config.concurrency)))
        probes = os.path.join(folder, "cpu-probe")
        if config.cpu_probe:
            os.mkdir(probes)
        stack_config = (
            replace(config, env={**config.env, "CASCADE_CPU_PROBE_DIR": probes})
            if config.cpu_probe
            else config
        )
        with _stack(stack_config, catalog_path) as stack:
            client = stack_client(stack, catalog_path)
            redis_version = str(client.redis.info("server").get("redis_version", "unknown"))
            try:
                legs = _legs(config, stack, client)
                emulator_pid = stack.emulator_process.pid if stack.emulator_process else None
                runs = [
                    {
                        key: _timed(legs[leg], emulator_pid)
                        for key, leg in leg_order(config.legs, skipped)
                    }
                    for _ in range(config.repeat)
                ]
                floor = _floor(config, stack, client, runs)
                trips = (
                    count_round_trips(client, config.workload(), config.round_trip_jobs)
                    if config.round_trip_jobs > 0
                    else None
                )
                enqueue = (
                    run_enqueue_apart(
                        client.settings,
                        config.workload(),
                        config.enqueue_jobs,
                        config.enqueue_chunk,
                    )
                    if config.enqueue_jobs > 0
                    else None
                )
            finally:
                client.close()
        # the workers write their sums as they exit, with the stack
        probed = read_probes(probes, _jobs_run(config, runs)) if config.cpu_probe else None
    settings = asdict(config) | {"ramp_s": config.ramp}
    report = build_report(settings, runs, skipped, enqueue, trips, redis_version, floor)
    if probed is not None:
        report["cpu_probe"] = probed
    return report


def _floor(
    config: BenchConfig, stack: LocalStack, client: CascadeClient, runs: list[dict[str, Any]]
) -> DesignFloor | None:
    """The design's floor in this run, task events as the stack's workers send them (their
    settings come from the same environment as the producer's)."""
    if not config.floor:
        return None
    assert stack.emulator_url
    return measure_design_floor(
        stack.emulator_url,
        config.workload(),
        task_events=client.settings.task_events,
        rate_per_s=_legs_rate(runs),
    )


def _legs_rate(runs: list[dict[str, Any]]) -> float | None:
    """The jobs per second the run's direct leg (else cascade's) kept, over its repeats."""
    return leg_median(runs, "direct", "throughput_per_s") or leg_median(
        runs, "cascade", "throughput_per_s"
    )


def _jobs_run(config: BenchConfig, runs: list[dict[str, Any]]) -> int:
    """The jobs the workers ran: each cascade leg's, its warmup and the round-trip count's."""
    legs = sum(1 for run in runs for name in run if name.startswith("cascade"))
    return legs * (config.jobs + config.warmup) + config.round_trip_jobs
