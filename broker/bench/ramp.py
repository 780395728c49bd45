"""How a leg reaches its concurrency: its slots open evenly over a ramp, the same for every leg.

Opened all at once, ``concurrency`` calls start together, end together about one latency later,
and are replaced together: the run becomes waves, and each wave queues behind the CPU work of
its own first moment (measured: docs/performance.md, "A standing start"). Opened over one
latency period, arrivals are as spread in the first second as they are in steady state, which
is what a service sending work continuously does. ``ramp_s=0`` opens every slot at once.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

__all__ = ["next_opening_s", "open_slots", "ramped_gate", "slots_open"]


def slots_open(concurrency: int, ramp_s: float, elapsed_s: float) -> int:
    """How many of a leg's ``concurrency`` slots are open ``elapsed_s`` into its run."""
    if ramp_s <= 0:
        return concurrency
    return max(1, min(concurrency, 1 + math.floor(concurrency * elapsed_s / ramp_s)))


def next_opening_s(concurrency: int, ramp_s: float, elapsed_s: float) -> float | None:
    """Seconds until the next slot opens, or None once every slot is open."""
    opened = slots_open(concurrency, ramp_s, elapsed_s)
    if opened >= concurrency:
        return None
    return max(0.0, opened * ramp_s / concurrency - elapsed_s)


async def open_slots(gate: asyncio.Semaphore, concurrency: int, ramp_s: float) -> None:
    """Release ``concurrency`` permits of ``gate`` (made with none) on the ramp's schedule."""
    loop = asyncio.get_running_loop()
    start, opened = loop.time(), 0
    while opened < concurrency:
        due = slots_open(concurrency, ramp_s, loop.time() - start)
        for _ in range(due - opened):
            gate.release()
        opened = due
        wait = next_opening_s(concurrency, ramp_s, loop.time() - start)
        if wait is not None:
            await asyncio.sleep(wait)


@asynccontextmanager
async def ramped_gate(concurrency: int, ramp_s: float) -> AsyncIterator[asyncio.Semaphore]:
    """A semaphore whose permits open on the ramp while the block runs; the opener stops with
    the block."""
    gate = asyncio.Semaphore(0)
    opening = asyncio.ensure_future(open_slots(gate, concurrency, ramp_s))
    try:
        yield gate
    finally:
        opening.cancel()
