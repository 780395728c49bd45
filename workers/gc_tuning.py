"""A worker's garbage collector, set for a long-lived process that allocates per delivery.

CPython starts a young-generation pass after every 700 container objects allocated (net of
those freed). One delivery allocates far more than that in objects that live until it ends
(httpx's request and response, redis-py's replies, the job's pydantic models), so a worker
running 100 jobs a second made hundreds of passes a second, each walking the young objects of
every delivery in flight and promoting them, so that older passes walked them again: 0.27 ms of
CPU per job in the CPU probe (docs/performance.md). Nearly all of it finds no garbage, because
reference counting frees a delivery's objects as it ends; the passes exist for cycles.

Once the worker is ready, what start-up built (modules, the catalog, Celery's app) is frozen
out of the collector's sight for good (``gc.freeze``: it lives as long as the process) and the
young generation's threshold is raised, so that a pass comes that many times less often. Cycles
are still collected, later; the memory they hold meanwhile is bounded by the threshold.
"""

from __future__ import annotations

import gc

__all__ = ["DEFAULT_THRESHOLD", "tune_collector"]

DEFAULT_THRESHOLD = 700  # CPython's own first threshold


def tune_collector(young_threshold: int) -> tuple[int, int, int]:
    """Freeze what exists now and set the young generation's threshold; the thresholds set.

    ``young_threshold`` 0 (or below CPython's own) leaves the collector as Python starts it.
    """
    if young_threshold <= DEFAULT_THRESHOLD:
        return gc.get_threshold()
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(young_threshold, middle, old)
    return gc.get_threshold()
