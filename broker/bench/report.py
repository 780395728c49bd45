"""The bench's report: every run's legs, the medians, the ratios, the targets met or missed,
as a JSON-ready dict and as text for a terminal."""

from __future__ import annotations

import os
import statistics
from typing import Any

from broker.bench.drift import DIRECT_AGAIN, DRIFT_WARNING, drift
from broker.bench.enqueue import EnqueueResult
from broker.bench.floor import DesignFloor, floor_against
from broker.bench.stages import STAGES

__all__ = ["TARGETS", "build_report", "leg_median", "render_text"]

# Issue 18's targets. Each is (what, threshold); whether it applies depends on the run's
# latency: the throughput against direct and the p50 overhead are stated for the target
# configuration's 1 s, the throughput against LiteLLM's Router (at least twice it) for 0 s. A
# name ending in _ms or _x is met at or below its threshold, any other at or above.
TARGETS = {
    "throughput_vs_direct_at_1s": 0.95,
    "throughput_vs_litellm_at_0s": 2.00,
    "enqueue_jobs_per_s": 5000.0,
    "overhead_p50_ms": 5.0,
    "cpu_per_job_vs_direct_x": 2.0,
}


def leg_median(
    runs: list[dict[str, Any]], leg: str | tuple[str, ...], *path: str, digits: int = 3
) -> float | None:
    """The median over the repeats of ``leg``'s value at ``path`` (of every leg named, when
    ``leg`` is several: one leg measured more than once in a repeat); None if no repeat has
    it."""
    legs = (leg,) if isinstance(leg, str) else leg
    values: list[float] = []
    for run in runs:
        for name in legs:
            value: Any = run.get(name)
            for part in path:
                value = None if value is None else value.get(part)
            if value is not None:
                values.append(float(value))
    return round(statistics.median(values), digits) if values else None


def _ratio(top: float | None, bottom: float | None) -> float | None:
    return round(top / bottom, 3) if top and bottom else None


def _targets(
    config: dict[str, Any],
    ratios: dict[str, float | None],
    overhead_p50: float | None,
    enqueue: EnqueueResult | None,
) -> dict[str, dict[str, Any]]:
    found: dict[str, float | None] = {
        "cpu_per_job_vs_direct_x": ratios.get("cpu_cascade_vs_direct"),
    }
    if config["latency_s"] == 1.0:
        # at 0 s the legs are CPU-bound by design, and the overhead is time queued for it
        found["overhead_p50_ms"] = overhead_p50
        found["throughput_vs_direct_at_1s"] = ratios["cascade_vs_direct"]
    if config["latency_s"] == 0.0:
        found["throughput_vs_litellm_at_0s"] = ratios["cascade_vs_litellm"]
    if enqueue is not None:
        found["enqueue_jobs_per_s"] = enqueue.jobs_per_s
    out: dict[str, dict[str, Any]] = {}
    for name, value in found.items():
        limit = TARGETS[name]
        met = (
            None
            if value is None
            else (value <= limit if name.endswith(("_ms", "_x")) else value >= limit)
        )
        out[name] = {"value": value, "target": limit, "met": met}
    return out


def build_report(
    config: dict[str, Any],
    runs: list[dict[str, Any]],
    skipped: dict[str, str],
    enqueue: EnqueueResult | None,
    round_trips: dict[str, Any] | None = None,
    redis_version: str | None = None,
    floor: DesignFloor | None = None,
) -> dict[str, Any]:
    legs = sorted({name for run in runs for name in run})
    medians = {
        leg: {
            "throughput_per_s": leg_median(runs, leg, "throughput_per_s"),
            "overhead_p50_ms": leg_median(runs, leg, "overhead", "p50"),
            "overhead_p95_ms": leg_median(runs, leg, "overhead", "p95"),
            "overhead_p99_ms": leg_median(runs, leg, "overhead", "p99"),
            "cpu_s_per_job": leg_median(runs, leg, "cpu_s_per_job", "total", digits=6),
        }
        for leg in legs
    }
    throughput = {leg: medians[leg]["throughput_per_s"] for leg in legs}
    # the direct call's CPU over both its measurements, before and after cascade's legs
    direct_cpu = leg_median(runs, ("direct", DIRECT_AGAIN), "cpu_s_per_job", "total", digits=6)
    ratios = {
        "cascade_vs_direct": _ratio(throughput.get("cascade"), throughput.get("direct")),
        "cascade_vs_litellm": _ratio(throughput.get("cascade"), throughput.get("litellm")),
        "litellm_vs_direct": _ratio(throughput.get("litellm"), throughput.get("direct")),
        # all of cascade's processes' CPU per job (producer, workers, Redis) over the direct
        # call's, measured in the same run on both sides of cascade's legs
        "cpu_cascade_vs_direct": _ratio(
            medians.get("cascade", {}).get("cpu_s_per_job"), direct_cpu
        ),
    }
    overhead = medians.get("cascade", {}).get("overhead_p50_ms")
    return {
        "config": config,
        "machine": {
            "cpus": os.cpu_count(),
            "load_avg": list(os.getloadavg()),
            "redis_version": redis_version,
        },
        "skipped": skipped,
        "runs": runs,
        "median": medians,
        "ratios": ratios,
        "enqueue": enqueue.as_dict() if enqueue else None,
        "worker_round_trips": round_trips,
        "drift": drift(runs),
        "floor": None
        if floor is None
        else floor_against(floor, direct_cpu, medians.get("cascade", {}).get("cpu_s_per_job")),
        "targets": _targets(config, ratios, overhead, enqueue),
    }


def render_text(report: dict[str, Any]) -> str:
    """A plain table per leg (medians over the repeats), the ratios and the targets."""
    config = report["config"]
    lines = [
        f"{config['jobs']} jobs, {config['concurrency']} in flight opened over "
        f"{config['ramp_s']} s, emulator latency {config['latency_s']} s, {config['repeat']} "
        f"repeat(s), {report['machine']['cpus']} CPUs, Redis {report['machine']['redis_version']}",
        f"{'leg':<15}{'jobs/s':>10}{'ovh p50':>10}{'p95':>9}{'p99':>9}{'cpu/job':>10}"
        "   load (before/after, each repeat)",
    ]
    for leg, row in report["median"].items():
        loads = " ".join(
            f"{run[leg]['load_avg'][0]}/{run[leg]['load_avg'][1]}" for run in report["runs"]
        )
        lines.append(
            f"{leg:<15}{row['throughput_per_s'] or 0:>10.1f}{row['overhead_p50_ms'] or 0:>9.1f}m"
            f"{row['overhead_p95_ms'] or 0:>8.1f}m{row['overhead_p99_ms'] or 0:>8.1f}m"
            f"{(row['cpu_s_per_job'] or 0) * 1000:>8.2f}ms   {loads}"
        )
    for leg, reason in report["skipped"].items():
        lines.append(f"{leg}: skipped: {reason}")
    lines.append("ratios: " + ", ".join(f"{k} {v}" for k, v in report["ratios"].items()))
    lines += _drift_lines(report.get("drift"))
    if report["enqueue"]:
        e = report["enqueue"]
        lines.append(
            f"enqueue: {e['jobs']} jobs in {e['seconds']} s = {e['jobs_per_s']} jobs/s; "
            f"producer RSS MB {e['producer_rss_mb']}; Redis {e['redis_bytes_per_job']} B/job"
        )
    for index, run in enumerate(report["runs"]):
        stages = run.get("cascade", {}).get("extra", {}).get("stages_ms")
        if stages:
            cut = ", ".join(
                f"{name} {stages[name]['p50']:.1f}/{stages[name]['p95']:.1f}"
                for name in STAGES
                if name in stages
            )
            lines.append(f"cascade by stage, repeat {index + 1} (p50/p95 ms): {cut}")
    if trips := report.get("worker_round_trips"):
        steps = ", ".join(f"{name} {n}" for name, n in trips["by_step"].items())
        lines.append(f"worker Redis round trips per job: {trips['per_job']} ({steps})")
    lines += _floor_lines(report.get("floor"))
    lines += _probe_lines(report.get("cpu_probe")) + _target_lines(report)
    return "\n".join(lines)


def _drift_lines(moved: dict[str, Any] | None) -> list[str]:
    if not moved:
        return []
    each = ", ".join(
        f"{repeat['before_ms']} -> {repeat['after_ms']} ms ({repeat['change']:+.1%})"
        for repeat in moved["repeats"]
    )
    lines = [f"the direct call's CPU per job before and after cascade's legs: {each}"]
    if moved["uncertain"]:
        remedy = (
            "--repeat 3 gives medians"
            if len(moved["repeats"]) == 1
            else "they are medians over the repeats"
        )
        lines.append(
            f"the machine's speed moved by more than {DRIFT_WARNING:.0%} during the run: the "
            f"ratios against direct are uncertain by about as much ({remedy})"
        )
    return lines


def _floor_lines(floor: dict[str, Any] | None) -> list[str]:
    if not floor:
        return []
    events = "on" if floor["task_events"] else "off"
    lines = [
        f"design floor per job (broker/bench/floor.py): Celery's no-op message "
        f"{floor['celery_worker_ms']} ms worker + {floor['celery_redis_ms']} ms Redis (task "
        f"events {events}), the call from a thread {floor['threaded_call_ms']} ms = "
        f"{floor['total_ms']} ms"
    ]
    if floor["vs_direct_x"] is not None:
        lines.append(
            f"design floor vs direct: {floor['vs_direct_x']}x (below it only with fewer Celery "
            "messages than jobs, or calls not made one per thread)"
        )
    if floor["cascade_above_floor_ms"] is not None:
        versus = floor["cascade_above_floor_vs_direct_x"]
        lines.append(
            f"cascade above the floor: {floor['cascade_above_floor_ms']} ms per job"
            + ("" if versus is None else f", {versus}x direct's call")
        )
    return lines


def _probe_lines(probe: dict[str, Any] | None) -> list[str]:
    if not probe:
        return []
    lines = [
        f"worker CPU per job, all steps together: {probe['worker_process_cpu_ms_per_job']} ms "
        f"(start-up included, {probe['jobs']} jobs); by step (ms per job, calls per job):"
    ]
    for label, step in probe["steps"].items():
        lines.append(f"  {step['ms_per_job']:>7.3f} ms  {step['calls_per_job']:>5}x  {label}")
    if probe["missing"]:
        lines.append(f"  probes not found (renamed?): {', '.join(probe['missing'])}")
    return lines


def _target_lines(report: dict[str, Any]) -> list[str]:
    lines = []
    for name, target in report["targets"].items():
        verdict = {True: "met", False: "MISSED", None: "n/a"}[target["met"]]
        lines.append(f"target {name}: {target['value']} (target {target['target']}) {verdict}")
    missed = [name for name, target in report["targets"].items() if target["met"] is False]
    if missed:
        machine = report["machine"]
        load = ", ".join(f"{value:.2f}" for value in machine["load_avg"])
        lines.append(
            f"MISSED on this machine ({machine['cpus']} CPUs, load {load}): {', '.join(missed)}"
        )
    if "cpu_per_job_vs_direct_x" in missed and not report.get("floor"):
        lines.append("(--floor measures what the design costs a job before cascade's own work)")
    return lines
