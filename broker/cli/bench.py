"""``cascade bench``: cascade measured against direct calls and LiteLLM's Router."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import click

__all__ = ["bench", "bench_schedule"]

# The options both benches take.
_LATENCY = click.option(
    "--latency",
    "latency_s",
    type=float,
    default=1.0,
    show_default=True,
    help="seconds the emulator takes per answer",
)
_JSON = click.option(
    "--json", "json_path", type=click.Path(dir_okay=False), help="write the report"
)


def _emit(text: str, report: dict[str, Any], json_path: str | None) -> None:
    click.echo(text)
    if json_path:
        Path(json_path).write_text(json.dumps(report, indent=2))


@click.command()
@click.option("--jobs", type=int, default=2000, show_default=True, help="jobs per leg")
@click.option("--concurrency", type=int, default=256, show_default=True, help="in flight")
@_LATENCY
@click.option(
    "--ramp",
    "ramp_s",
    type=click.FloatRange(min=0),
    show_default="the latency",
    help="seconds over which each leg opens its slots (0: all at once)",
)
@click.option("--repeat", type=int, default=1, show_default=True, help="runs of every leg")
@click.option("--warmup", type=int, default=64, show_default=True, help="calls before each leg")
@click.option(
    "--workers",
    "worker_processes",
    type=int,
    default=lambda: os.cpu_count() or 1,
    show_default="one per CPU",
    help="cascade worker processes",
)
@click.option(
    "--worker-concurrency",
    type=int,
    help="threads per worker (default: the in-flight count, as in production)",
)
@click.option(
    "--enqueue-jobs",
    type=int,
    default=100_000,
    show_default=True,
    help="jobs of the enqueue-only batch (0: skip it)",
)
@click.option(
    "--cpu-probe",
    is_flag=True,
    help="also time each worker step's CPU and report it per job (broker/bench/cpu_probe.py)",
)
@click.option(
    "--floor",
    is_flag=True,
    help="also measure the design's floor per job and cascade above it (broker/bench/floor.py)",
)
@click.option("--legs", default="direct,litellm,cascade", show_default=True)
@_JSON
def bench(json_path: str | None, legs: str, **options: Any) -> None:
    """Measure cascade against direct calls to the emulator and LiteLLM's Router."""
    from broker.bench import BenchConfig, render_text, run_bench

    report = run_bench(BenchConfig(legs=tuple(legs.split(",")), **options))
    _emit(render_text(report), report, json_path)


@click.command("bench-schedule")
@click.option("--backlog", type=int, default=20_000, show_default=True, help="bulk jobs queued")
@click.option(
    "--interactive-rate",
    "interactive_per_s",
    type=float,
    default=2.0,
    show_default=True,
    help="interactive jobs per second",
)
@click.option(
    "--interactive-seconds",
    "interactive_s",
    type=float,
    default=30.0,
    show_default=True,
    help="how long interactive jobs keep arriving",
)
@_LATENCY
@click.option(
    "--concurrency",
    type=int,
    default=256,
    show_default=True,
    help="worker threads, over all worker processes",
)
@click.option("--workers", type=int, default=1, show_default=True, help="worker processes")
@click.option(
    "--window",
    "window_s",
    type=float,
    default=10.0,
    show_default=True,
    help="seconds per fairness window",
)
@_JSON
def bench_schedule(json_path: str | None, **options: Any) -> None:
    """Measure the scheduler: interactive latency behind a bulk backlog, fair shares between
    two bulk tenants, and bulk throughput against a bulk-only run."""
    from broker.bench.scheduling import SchedBenchConfig, render_sched_text, run_sched_bench

    report = run_sched_bench(SchedBenchConfig(**options))
    _emit(render_sched_text(report), report, json_path)
