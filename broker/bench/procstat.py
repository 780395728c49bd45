"""CPU time and memory of processes, read from Linux's /proc (the bench's machines are Linux)."""

from __future__ import annotations

import os
import resource
from pathlib import Path

__all__ = ["cpu_seconds", "load_1m", "rss_bytes", "self_cpu_seconds"]

_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds of ``pid`` (all its threads) so far; 0.0 if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    # the command name (field 2) may hold spaces: count fields after its closing parenthesis
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def self_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def rss_bytes(pid: int | None = None) -> int:
    """Resident memory of ``pid`` (this process by default)."""
    statm = Path(f"/proc/{pid or 'self'}/statm").read_text().split()
    return int(statm[1]) * _PAGE


def load_1m() -> float:
    return round(os.getloadavg()[0], 2)
