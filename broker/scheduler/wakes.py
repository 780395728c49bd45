"""When a dispatcher is woken to top a queue up: pure rules over a list's length and the clock.

Every delivery a worker begins and every submit to a busy queue used to wake the dispatcher,
and each wake cost a top-up (two round trips: the snapshot and the move) that moved about one
job: under load, with the dispatcher's pub/sub thread hearing every submit, about 0.7 ms of a
worker's CPU per job (docs/performance.md). Now a wake comes only for a Celery list below its
low water mark, half its depth: the submit script publishes one only then, and a delivery's
begin script reads its list's length in the round trip it makes anyway, so that a take from a
list still above the mark wakes nothing. A list at or above the mark still holds work for the
workers reading it, so nothing waits for the top-up that was skipped; once woken, a top-up
moves half a depth at once. A job picked later is picked from more candidates, which only
helps an urgent one. The sweep, due at least every ``sweep_s`` however often wakes come, tops
up every queue whatever its length, so that held and deferred jobs that fell due are released
on time and a wake lost with Redis is made up for.
"""

from __future__ import annotations

__all__ = ["low_water", "sweep_due"]


def low_water(depth: int) -> int:
    """The length below which a list's dispatchers are woken: half its depth, at least 1."""
    return max(1, depth // 2)


def sweep_due(last_sweep: float, now: float, sweep_s: float) -> bool:
    """Whether this look is also the sweep, which tops up every queue whatever its length."""
    return now - last_sweep >= sweep_s
