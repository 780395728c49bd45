"""The peer: the same requests through LiteLLM's Router, one deployment on the emulator.

LiteLLM is the ``bench`` extra (``pip install cascade-broker[bench]``); without it this leg is
skipped with the reason, and the rest of the bench runs.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import Any

from broker.bench.procstat import load_1m, self_cpu_seconds
from broker.bench.ramp import ramped_gate
from broker.bench.stats import LegResult, client_leg
from broker.bench.workload import MODEL_ID, PROVIDER, Workload

__all__ = ["litellm_missing", "run_litellm"]


def litellm_missing() -> str | None:
    """Why the LiteLLM leg cannot run, or None when it can."""
    # LiteLLM fetches its model price map from the network at import unless told not to.
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    try:
        import litellm  # noqa: F401
    except ImportError as exc:
        return f"litellm is not installed (pip install 'cascade-broker[bench]'): {exc}"
    return None


def _router(emulator_url: str, work: Workload) -> Any:
    import litellm
    from litellm.router import Router

    litellm.telemetry = False
    litellm.suppress_debug_info = True
    logging.getLogger("LiteLLM").setLevel(logging.ERROR)
    logging.getLogger("LiteLLM Router").setLevel(logging.ERROR)
    deployment = {
        "model_name": "bench",
        "litellm_params": {
            "model": f"openai/{MODEL_ID}",
            "api_base": f"{emulator_url}/{PROVIDER}/v1",
            "api_key": "emulated",
            "max_parallel_requests": work.concurrency,
        },
    }
    return Router(model_list=[deployment], num_retries=0, timeout=120)


async def _drive(
    router: Any, work: Workload, count: int, ramp_s: float
) -> tuple[list[float], float]:
    messages = work.request()["messages"]
    durations: list[float] = []

    async def one(gate: asyncio.Semaphore) -> None:
        async with gate:
            start = time.perf_counter()
            reply = await router.acompletion(
                model="bench", messages=messages, max_tokens=work.max_tokens
            )
            if reply.choices:
                durations.append(time.perf_counter() - start)

    async with ramped_gate(work.concurrency, ramp_s) as gate:
        start = time.perf_counter()
        await asyncio.gather(*(one(gate) for _ in range(count)))
        return durations, time.perf_counter() - start


def run_litellm(emulator_url: str, work: Workload, *, warmup: int = 0) -> LegResult:
    router = _router(emulator_url, work)

    async def both() -> tuple[list[float], float, float, float]:
        # one event loop for warm-up and run: LiteLLM caches its HTTP clients per loop
        if warmup:
            await _drive(router, work, warmup, ramp_s=0.0)
        load, cpu = load_1m(), self_cpu_seconds()
        durations, wall = await _drive(router, work, work.jobs, work.ramp_s)
        return durations, wall, load, cpu

    durations, wall, load_before, cpu_before = asyncio.run(both())
    return client_leg(
        "litellm",
        work.latency_s,
        durations,
        jobs=work.jobs,
        wall_s=wall,
        client_cpu_s=self_cpu_seconds() - cpu_before,
        load_avg=(load_before, load_1m()),
    )
