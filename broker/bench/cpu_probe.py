"""Where a worker's CPU goes, step by step: each probed function's thread CPU time, summed.

``cascade bench --cpu-probe`` starts its workers with ``CASCADE_CPU_PROBE_DIR`` set. Each worker
then wraps the functions of ``PROBES`` with a timer of its own thread's CPU
(``time.thread_time``: time spent waiting for the network, a lock or the GIL is not counted),
times the garbage collector's passes the same way, and writes the sums to ``<dir>/<pid>.json``
when it exits. Probes nest (a delivery includes its call), so they are a list of costs with
their counts, not a partition of the process's CPU, which is written beside them.

Why not a sampling profiler: with a worker's 256 threads py-spy counted threads blocked in a
socket read as running, and yappi's own cost per call inflated small functions about threefold
(docs/performance.md). The probes cost two ``thread_time`` calls each.
"""

from __future__ import annotations

import atexit
import functools
import gc
import importlib
import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["PROBES", "install", "read_probes"]

# (module, attribute path, what it is)
PROBES: tuple[tuple[str, str, str], ...] = (
    ("workers.runner", "JobRunner.run", "a delivery, whole"),
    ("broker.store", "JobStore.begin", "begin script"),
    ("workers.admission", "Gatekeeper.admit", "admission scripts"),
    ("workers.calls", "call_provider", "provider call"),
    ("httpx", "Client.send", "provider call: httpx send"),
    ("broker.script_batch", "_send", "script round trips (begin, admission, finish)"),
    ("workers.telemetry", "Telemetry.succeeded", "telemetry of a success"),
    ("broker.scheduler.dispatcher", "Dispatcher.top_up_all", "dispatcher top-ups"),
    ("kombu.transport.redis", "Channel._brpop_read", "kombu: message read"),
    ("kombu.transport.redis", "Channel.basic_ack", "kombu: ack"),
    ("celery.worker.request", "Request.execute_using_pool", "celery: hand a task to a thread"),
    ("celery.events.dispatcher", "EventDispatcher.send", "task events"),
    ("celery.events.dispatcher", "EventDispatcher.flush", "task events: publishing a batch"),
    ("structlog._base", "BoundLoggerBase._process_event", "log lines"),
)


class _Sums:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.sums: dict[str, list[float]] = {}

    def add(self, label: str, seconds: float) -> None:
        with self.lock:
            entry = self.sums.setdefault(label, [0.0, 0])
            entry[0] += seconds
            entry[1] += 1


def _timed(function: Callable[..., Any], label: str, sums: _Sums) -> Callable[..., Any]:
    @functools.wraps(function)
    def probe(*args: Any, **kwargs: Any) -> Any:
        start = time.thread_time()
        try:
            return function(*args, **kwargs)
        finally:
            sums.add(label, time.thread_time() - start)

    return probe


def _wrap(module_name: str, path: str, label: str, sums: _Sums) -> bool:
    try:
        owner: Any = importlib.import_module(module_name)
    except ImportError:
        return False
    *parents, name = path.split(".")
    for parent in parents:
        owner = getattr(owner, parent, None)
        if owner is None:
            return False
    function = getattr(owner, name, None)
    if not callable(function):
        return False
    setattr(owner, name, _timed(function, label, sums))
    return True


def install(folder: str, probes: tuple[tuple[str, str, str], ...] = PROBES) -> list[str]:
    """Wrap every probe that exists and time the collector; write the sums at exit. Returns
    the probes that were not found (a renamed function), which the report lists."""
    sums = _Sums()
    missing = [f"{m}:{p}" for m, p, label in probes if not _wrap(m, p, label, sums)]
    started: dict[int, float] = {}

    def collector(phase: str, info: dict[str, Any]) -> None:
        ident = threading.get_ident()
        if phase == "start":
            started[ident] = time.thread_time()
        elif ident in started:
            label = f"garbage collector, generation {info['generation']}"
            sums.add(label, time.thread_time() - started.pop(ident))

    gc.callbacks.append(collector)

    def write() -> None:
        with sums.lock:
            found = {label: {"cpu_s": s, "calls": int(n)} for label, (s, n) in sums.sums.items()}
        report = {"process_cpu_s": time.process_time(), "probes": found, "missing": missing}
        Path(folder, f"{os.getpid()}.json").write_text(json.dumps(report))

    atexit.register(write)
    return missing


def read_probes(folder: str, jobs_seen: int) -> dict[str, Any]:
    """Every worker's sums together: per probe its CPU in ms per job of ``jobs_seen`` (each
    job the workers ran, warmups included) and its calls per job."""
    totals: dict[str, list[float]] = {}
    process_cpu, missing = 0.0, set()
    for path in sorted(Path(folder).glob("*.json")):
        report = json.loads(path.read_text())
        process_cpu += report["process_cpu_s"]
        missing.update(report["missing"])
        for label, entry in report["probes"].items():
            total = totals.setdefault(label, [0.0, 0.0])
            total[0] += entry["cpu_s"]
            total[1] += entry["calls"]
    jobs = max(jobs_seen, 1)
    steps = {
        label: {"ms_per_job": round(1000 * s / jobs, 3), "calls_per_job": round(n / jobs, 2)}
        for label, (s, n) in sorted(totals.items(), key=lambda item: -item[1][0])
    }
    return {
        "jobs": jobs_seen,
        "worker_process_cpu_ms_per_job": round(1000 * process_cpu / jobs, 3),
        "steps": steps,
        "missing": sorted(missing),
    }
