"""The scheduling bench's numbers, from finished jobs alone (pure; no Redis, no clock)."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Finished", "percentile", "throughput", "window_shares"]


@dataclass(frozen=True, slots=True)
class Finished:
    tenant: str
    created_s: float  # epoch seconds the job was made
    finished_s: float  # epoch seconds its result was written


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) by the nearest-rank method; nan when there are no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def throughput(jobs: Sequence[Finished]) -> float:
    """Completions per second from the first completion to the last."""
    if len(jobs) < 2:
        return 0.0
    span = max(job.finished_s for job in jobs) - min(job.finished_s for job in jobs)
    return (len(jobs) - 1) / span if span > 0 else 0.0


def window_shares(
    jobs: Sequence[Finished], tenants: Sequence[str], window_s: float
) -> list[dict[str, float]]:
    """Each tenant's share of completions in every whole ``window_s`` window during which all
    of ``tenants`` still had work finishing (from the first completion to the earliest last
    completion among them)."""
    mine = [job for job in jobs if job.tenant in tenants]
    if not mine:
        return []
    start = min(job.finished_s for job in mine)
    end = min(max(job.finished_s for job in mine if job.tenant == t) for t in tenants)
    windows = int((end - start) // window_s)
    counts = [Counter[str]() for _ in range(windows)]
    for job in mine:
        index = int((job.finished_s - start) // window_s)
        if index < windows:
            counts[index][job.tenant] += 1
    return [
        {tenant: count[tenant] / total for tenant in tenants}
        for count in counts
        if (total := sum(count.values())) > 0
    ]
