"""A job that can no longer meet its deadline ends ``DeadlineExceeded`` before any call.

"No longer" means the time left is shorter than the target's calls take (its observed
latency, the EWMA of ``routing/latency.py``): such a call could only answer too late, and it
would be paid for all the same. The latencies are read from Redis at most once per
``max_age_s`` per worker process and shared by its threads, so the check costs no round trip
per delivery.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from broker.jobs import TargetRef
from broker.store import StoredJob
from routing.latency import LatencyBook
from workers.delivery import seconds_to_deadline

__all__ = ["ExpectedLatency", "out_of_time", "too_late"]


def too_late(seconds_left: float | None, expected_s: float | None) -> bool:
    """Whether a call expected to take ``expected_s`` cannot end within ``seconds_left``."""
    if seconds_left is None:
        return False
    return seconds_left <= 0 or (expected_s is not None and seconds_left < expected_s)


def out_of_time(stored: StoredJob, target: TargetRef, expected: ExpectedLatency | None) -> bool:
    """The job's deadline passed, or comes before ``target``'s usual call could answer."""
    typical = None if expected is None else expected.of(target.provider, target.model)
    return too_late(seconds_to_deadline(stored), typical)


class ExpectedLatency:
    """Each (provider, model)'s observed call latency, re-read at most once per ``max_age_s``."""

    def __init__(
        self,
        book: LatencyBook,
        max_age_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.book = book
        self.max_age_s = max_age_s
        self.clock = clock
        self._lock = threading.Lock()
        self._read_at: float | None = None
        self._known: dict[tuple[str, str], float] = {}

    def of(self, provider: str, model: str) -> float | None:
        with self._lock:
            now = self.clock()
            if self._read_at is None or now - self._read_at >= self.max_age_s:
                self._known = self.book.snapshot()
                self._read_at = now
            return self._known.get((provider, model))
