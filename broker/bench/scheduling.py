"""``cascade bench-schedule``: does the scheduler keep its promises under a real backlog?

On a private stack (Redis, the emulator answering in ``latency_s``, ``workers`` worker
processes), two runs:

1. **bulk only**: ``backlog`` bulk jobs of tenant ``bulk-a``, drained; its throughput is the
   reference.
2. **mixed**: the same number of bulk jobs, half ``bulk-a``'s and half ``bulk-c``'s (equal
   weights), then ``interactive-b`` submits an interactive job every ``1 / interactive_per_s``
   seconds for ``interactive_s``. Measured: B's end-to-end time (result written minus job
   made), each bulk tenant's share of completions in every ``window_s`` window while both
   wait, and the bulk throughput against run 1.

Targets (issue 14): B's p95 <= latency + 250 ms; each share 50 +/- 5 %; bulk throughput >=
95 % of bulk only.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from broker.bench.harness import stack_client
from broker.bench.sched_stats import Finished, percentile, throughput, window_shares
from broker.bench.workload import PROVIDER, TIER, Workload, bench_catalog
from broker.client import CascadeClient
from broker.local_stack import LocalStack

__all__ = ["SchedBenchConfig", "render_sched_text", "run_sched_bench"]

BULK = ("bulk-a", "bulk-c")
INTERACTIVE = "interactive-b"


@dataclass(frozen=True, slots=True)
class SchedBenchConfig:
    backlog: int = 20_000
    interactive_per_s: float = 2.0
    interactive_s: float = 30.0
    latency_s: float = 1.0
    concurrency: int = 256  # threads over all worker processes
    workers: int = 1
    window_s: float = 10.0
    log_dir: str | None = None


def run_sched_bench(config: SchedBenchConfig) -> dict[str, Any]:
    """Both runs on one stack; the report as a JSON-ready dict."""
    per_worker = max(1, config.concurrency // config.workers)
    with tempfile.TemporaryDirectory(prefix="cascade-sched-bench-") as folder:
        catalog_path = os.path.join(folder, "catalog.yaml")
        Path(catalog_path).write_text(yaml.safe_dump(bench_catalog(per_worker)))
        logs = Path(config.log_dir) if config.log_dir else None
        with LocalStack(config=catalog_path, log_dir=logs) as stack:
            stack.start_redis()
            stack.start_emulator(latency_s=config.latency_s)
            for index in range(config.workers):
                stack.start_worker(PROVIDER, name=f"{PROVIDER}-{index}", concurrency=per_worker)
            stack.wait_for_workers(timeout=60)
            client = stack_client(stack, catalog_path)
            try:
                alone = _run(client, config, {BULK[0]: config.backlog}, interactive=False)
                half = config.backlog // 2
                mixed = _run(client, config, dict.fromkeys(BULK, half), interactive=True)
            finally:
                client.close()
    return _report(config, alone, mixed)


def _run(
    client: CascadeClient, config: SchedBenchConfig, bulk: dict[str, int], *, interactive: bool
) -> list[Finished]:
    request = Workload(0, 0, config.latency_s).request()
    # The tenants' jobs interleaved, so that every chunk of the submit holds both: each is
    # backlogged from the first top-up on (one after the other, the first would run alone
    # until the second's chunks land, and its head start would show in the first window).
    tenants = [
        tenant for index in range(max(bulk.values())) for tenant in bulk if index < bulk[tenant]
    ]
    jobs = [
        {"needs": {"tier": TIER}, "request": request, "envelope": {"tenant": t, "priority": "bulk"}}
        for t in tenants
    ]
    submitted = time.time()
    made = dict.fromkeys(client.submit_many(jobs), submitted)
    if interactive:
        made |= _interactive_arrivals(client, config, request)
    rate = config.concurrency / max(config.latency_s, 0.001)
    results = client.wait_many(list(made), timeout=60 + 3 * len(made) / rate)
    return [
        Finished(result.tenant, made[job_id], result.finished_at.timestamp())
        for job_id, result in results.items()
    ]


def _interactive_arrivals(
    client: CascadeClient, config: SchedBenchConfig, request: dict[str, Any]
) -> dict[str, float]:
    """Submit the interactive tenant's jobs on schedule; each id -> when it was submitted."""
    made: dict[str, float] = {}
    gap = 1.0 / config.interactive_per_s
    start = time.monotonic()
    for number in range(int(config.interactive_s * config.interactive_per_s)):
        time.sleep(max(0.0, start + number * gap - time.monotonic()))
        job = client.build_job(request, tier=TIER, tenant=INTERACTIVE, priority="interactive")
        submitted = time.time()
        made[client.submit(job)] = submitted
    return made


def _report(
    config: SchedBenchConfig, alone: list[Finished], mixed: list[Finished]
) -> dict[str, Any]:
    interactive = [job.finished_s - job.created_s for job in mixed if job.tenant == INTERACTIVE]
    bulk = [job for job in mixed if job.tenant in BULK]
    shares = window_shares(bulk, BULK, config.window_s)
    worst = max((abs(share[BULK[0]] - 0.5) for share in shares), default=float("nan"))
    alone_rate, mixed_rate = throughput(alone), throughput(bulk)
    p95 = percentile(interactive, 0.95)
    return {
        "settings": asdict(config),
        "bulk_only_jobs_per_s": round(alone_rate, 1),
        "mixed_bulk_jobs_per_s": round(mixed_rate, 1),
        "bulk_throughput_ratio": round(mixed_rate / alone_rate, 3) if alone_rate else None,
        "interactive_jobs": len(interactive),
        "interactive_s": {
            "p50": round(percentile(interactive, 0.5), 3),
            "p95": round(p95, 3),
            "max": round(max(interactive, default=float("nan")), 3),
        },
        "bulk_windows": len(shares),
        "bulk_share_worst_deviation": round(worst, 3),
        "targets": {
            "interactive_p95_within_latency_plus_250ms": p95 <= config.latency_s + 0.25,
            "bulk_shares_50_plus_minus_5": bool(shares) and worst <= 0.05,
            "bulk_throughput_at_least_95_percent": bool(alone_rate)
            and mixed_rate >= 0.95 * alone_rate,
        },
    }


def render_sched_text(report: dict[str, Any]) -> str:
    timing = report["interactive_s"]
    lines = [
        f"bulk only: {report['bulk_only_jobs_per_s']} jobs/s; with the interactive tenant and "
        f"two bulk tenants: {report['mixed_bulk_jobs_per_s']} bulk jobs/s "
        f"(ratio {report['bulk_throughput_ratio']})",
        f"interactive end to end ({report['interactive_jobs']} jobs): p50 {timing['p50']} s, "
        f"p95 {timing['p95']} s, max {timing['max']} s",
        f"bulk shares over {report['bulk_windows']} windows: worst deviation from 50 % "
        f"{report['bulk_share_worst_deviation']:.1%}",
    ]
    lines += [
        f"target {name}: {'met' if met else 'NOT met'}" for name, met in report["targets"].items()
    ]
    return "\n".join(lines)
