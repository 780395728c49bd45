"""Summaries of measured samples: percentiles by the nearest-rank method, and leg results."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["Distribution", "LegResult", "client_leg", "distribution", "percentile"]


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank ``q``-th percentile (0 < q <= 100) of ``values``; 0.0 when empty."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True, slots=True)
class Distribution:
    """Milliseconds."""

    p50: float
    p95: float
    p99: float
    mean: float
    max: float


def distribution(seconds: Sequence[float]) -> Distribution:
    """The summary of ``seconds``, in milliseconds."""
    if not seconds:
        return Distribution(0.0, 0.0, 0.0, 0.0, 0.0)
    millis = [value * 1000 for value in seconds]
    return Distribution(
        p50=round(percentile(millis, 50), 3),
        p95=round(percentile(millis, 95), 3),
        p99=round(percentile(millis, 99), 3),
        mean=round(sum(millis) / len(millis), 3),
        max=round(max(millis), 3),
    )


@dataclass
class LegResult:
    """One leg of one run: how many calls, how fast, what each cost beyond the provider."""

    name: str
    jobs: int
    ok: int
    wall_s: float
    latency: Distribution  # end to end, per call
    overhead: Distribution  # end to end minus the provider's time
    cpu_s: dict[str, float] = field(default_factory=dict)  # per process, whole leg
    load_avg: tuple[float, float] = (0.0, 0.0)  # 1-minute load before and after
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def throughput(self) -> float:
        return self.ok / self.wall_s if self.wall_s > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["throughput_per_s"] = round(self.throughput, 2)
        data["cpu_s_per_job"] = {
            name: round(value / max(self.ok, 1), 6) for name, value in self.cpu_s.items()
        }
        data["cpu_s_per_job"]["total"] = round(sum(self.cpu_s.values()) / max(self.ok, 1), 6)
        return data


def client_leg(
    name: str,
    latency_s: float,
    durations: Sequence[float],
    *,
    jobs: int,
    wall_s: float,
    client_cpu_s: float,
    load_avg: tuple[float, float],
) -> LegResult:
    """A leg whose calls the bench process made itself (direct, LiteLLM): each answered call's
    duration, less the emulator's configured ``latency_s``, is its overhead."""
    return LegResult(
        name=name,
        jobs=jobs,
        ok=len(durations),
        wall_s=round(wall_s, 4),
        latency=distribution(durations),
        overhead=distribution([max(0.0, d - latency_s) for d in durations]),
        cpu_s={"client": round(client_cpu_s, 4)},
        load_avg=load_avg,
    )
