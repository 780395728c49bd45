"""The limit: the same requests sent straight to the emulator with asyncio and httpx."""

from __future__ import annotations

import asyncio
import time

import httpx

from broker.bench.procstat import load_1m, self_cpu_seconds
from broker.bench.ramp import ramped_gate
from broker.bench.stats import LegResult, client_leg
from broker.bench.workload import PROVIDER, Workload

__all__ = ["CONNECTIONS_PER_CLIENT", "run_direct"]

# httpx's connection pool does work per request that grows with its number of connections:
# at 256 in one pool the client spent ~22 ms of CPU per call (measured). Pools of this many
# connections each keep the limit leg a limit.
CONNECTIONS_PER_CLIENT = 16


async def _drive(url: str, work: Workload, count: int, ramp_s: float) -> tuple[list[float], float]:
    per_client = min(work.concurrency, CONNECTIONS_PER_CLIENT)
    limits = httpx.Limits(max_connections=per_client, max_keepalive_connections=per_client)
    body = work.openai_body()
    headers = {"authorization": "Bearer emulated"}
    durations: list[float] = []

    async def one(client: httpx.AsyncClient, gate: asyncio.Semaphore) -> None:
        async with gate:  # at most ``concurrency`` calls in flight, across every client
            start = time.perf_counter()
            response = await client.post(url, json=body, headers=headers)
            if response.status_code == 200:
                response.json()
                durations.append(time.perf_counter() - start)

    shards = -(-work.concurrency // per_client)
    clients = [httpx.AsyncClient(limits=limits, timeout=120) for _ in range(shards)]
    try:
        async with ramped_gate(work.concurrency, ramp_s) as gate:
            start = time.perf_counter()
            await asyncio.gather(*(one(clients[n % shards], gate) for n in range(count)))
            return durations, time.perf_counter() - start
    finally:
        for client in clients:
            await client.aclose()


def run_direct(emulator_url: str, work: Workload, *, warmup: int = 0) -> LegResult:
    url = f"{emulator_url}/{PROVIDER}/v1/chat/completions"
    if warmup:
        asyncio.run(_drive(url, work, warmup, ramp_s=0.0))
    load_before, cpu_before = load_1m(), self_cpu_seconds()
    durations, wall = asyncio.run(_drive(url, work, work.jobs, work.ramp_s))
    return client_leg(
        "direct",
        work.latency_s,
        durations,
        jobs=work.jobs,
        wall_s=wall,
        client_cpu_s=self_cpu_seconds() - cpu_before,
        load_avg=(load_before, load_1m()),
    )
