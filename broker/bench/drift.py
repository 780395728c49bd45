"""How far the machine's speed moved during a run, read off the direct call measured twice.

A shared machine changes speed in phases of a minute or more: every process's CPU for the same
work moves together, the bench's producer and Redis as much as its workers (docs/performance.md,
"Issue 18, eighth pass"). A direct leg and a cascade leg measured a minute apart can fall in
different phases, and the CPU ratio between them then moves by as much as the machine did. So
each repeat runs the direct leg again after the cascade legs (``DIRECT_AGAIN``): the ratio's
denominator is the direct call's CPU over both of its measurements (the report's
``leg_median`` over both keys), and the change between the two says how far the machine moved
while cascade ran. The functions here are pure: the harness asks ``leg_order`` what to run, the
report asks ``drift`` what the runs say.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "DIRECT_AGAIN",
    "DRIFT_WARNING",
    "drift",
    "leg_order",
]

# The key, in a repeat's legs, of the direct leg run again after the cascade legs.
DIRECT_AGAIN = "direct-again"

# A change of the direct call's CPU beyond this fraction makes the ratios uncertain by as much.
DRIFT_WARNING = 0.10


def leg_order(legs: Iterable[str], skipped: Mapping[str, str]) -> list[tuple[str, str]]:
    """One repeat's legs as (key in the run, leg to run): the legs asked for that can run, in
    their order, then the direct leg again if it ran before a cascade leg."""
    order = [(name, name) for name in legs if name not in skipped]
    names = [name for name, _ in order]
    if "direct" in names and any(
        name.startswith("cascade") for name in names[names.index("direct") + 1 :]
    ):
        order.append((DIRECT_AGAIN, "direct"))
    return order


def _cpu(leg: Mapping[str, Any] | None) -> float | None:
    if leg is None:
        return None
    value = leg.get("cpu_s_per_job", {}).get("total")
    return float(value) if value else None


def drift(runs: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Per repeat the direct call's CPU per job before and after the cascade legs (ms) and its
    change, the largest change of the run, and whether it makes the ratios uncertain; None
    when no repeat measured the direct call on both sides."""
    repeats = []
    for run in runs:
        before, after = _cpu(run.get("direct")), _cpu(run.get(DIRECT_AGAIN))
        if before and after:
            repeats.append(
                {
                    "before_ms": round(before * 1000, 3),
                    "after_ms": round(after * 1000, 3),
                    "change": round(after / before - 1, 3),
                }
            )
    if not repeats:
        return None
    largest = max((repeat["change"] for repeat in repeats), key=abs)
    return {
        "repeats": repeats,
        "largest_change": largest,
        "uncertain": abs(largest) > DRIFT_WARNING,
    }
