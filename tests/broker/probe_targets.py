"""Functions for the CPU probe's test to time (tests/broker/test_bench_cpu_probe.py)."""

from __future__ import annotations

import time


def burn(seconds: float) -> None:
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


def nap(seconds: float) -> None:
    time.sleep(seconds)
