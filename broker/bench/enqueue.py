"""Enqueue a large batch with no worker consuming it: the producer's rate and memory, and what
each queued job costs in Redis.

The bench runs it in a process of its own (``run_enqueue_apart``), as a real producer is: the
bench process also holds LiteLLM, whose large heap makes every garbage collection slower and
took a tenth to a quarter off the enqueue rate measured beside it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

from broker.bench.procstat import load_1m, rss_bytes
from broker.bench.workload import IDLE_TIER, Workload
from broker.client import CascadeClient
from broker.settings import Settings

__all__ = ["EnqueueResult", "run_enqueue", "run_enqueue_apart"]


@dataclass(frozen=True, slots=True)
class EnqueueResult:
    jobs: int
    chunk: int
    seconds: float
    jobs_per_s: float
    producer_rss_mb: dict[str, float]  # after the first chunk, highest, at the end
    redis_bytes_per_job: float
    load_avg: tuple[float, float]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _chunks(work: Workload, total: int, size: int) -> Iterator[list[dict[str, Any]]]:
    job = {"needs": {"tier": IDLE_TIER}, "request": work.request()}
    for start in range(0, total, size):
        yield [job] * min(size, total - start)


def run_enqueue(client: CascadeClient, work: Workload, total: int, chunk: int) -> EnqueueResult:
    """``submit_many`` in chunks of ``chunk`` until ``total`` jobs are queued."""
    memory_before = int(client.redis.info("memory")["used_memory"])
    load_before = load_1m()
    rss: list[int] = []
    start = time.perf_counter()
    for jobs in _chunks(work, total, chunk):
        client.submit_many(jobs)
        rss.append(rss_bytes())
    seconds = time.perf_counter() - start
    memory_after = int(client.redis.info("memory")["used_memory"])
    mb = 1024 * 1024
    return EnqueueResult(
        jobs=total,
        chunk=chunk,
        seconds=round(seconds, 3),
        jobs_per_s=round(total / seconds, 1),
        producer_rss_mb={
            "first_chunk": round(rss[0] / mb, 1),
            "peak": round(max(rss) / mb, 1),
            "end": round(rss[-1] / mb, 1),
        },
        redis_bytes_per_job=round((memory_after - memory_before) / total, 1),
        load_avg=(load_before, load_1m()),
    )


def run_enqueue_apart(settings: Settings, work: Workload, total: int, chunk: int) -> EnqueueResult:
    """``run_enqueue`` in a fresh Python process that imports only cascade's producer."""
    arguments = {
        "settings": settings.model_dump(mode="json"),
        "work": asdict(work),
        "total": total,
        "chunk": chunk,
    }
    done = subprocess.run(
        [sys.executable, "-m", "broker.bench.enqueue", json.dumps(arguments)],
        check=True,
        capture_output=True,
        text=True,
    )
    fields = json.loads(done.stdout.strip().splitlines()[-1])
    fields["load_avg"] = tuple(fields["load_avg"])
    return EnqueueResult(**fields)


def _main(raw: str) -> None:
    from broker.catalog_file import load_catalog

    arguments = json.loads(raw)
    settings = Settings(**arguments["settings"])
    catalog = load_catalog(settings.config, settings.profile, emulator_url=settings.emulator_url)
    client = CascadeClient(settings, catalog)
    try:
        result = run_enqueue(
            client, Workload(**arguments["work"]), arguments["total"], arguments["chunk"]
        )
    finally:
        client.close()
    print(json.dumps(result.as_dict()))


if __name__ == "__main__":
    _main(sys.argv[1])
