"""The run-time state of one emulator instance: call counts, arrival times, fault rules, latency.

One ``EmulatorState`` lives in each app (never at module level), so two apps in one process —
tests do that — never share counts. All methods run on the event loop's thread without awaiting,
so no lock is needed.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Callable
from typing import Any

from adapters.emulator.config import EmulatorConfig, LatencySettings, latency_for
from adapters.emulator.faults import FaultRule, choose_fault, rule_matches

__all__ = ["ARRIVALS_KEPT", "EmulatorState"]

# Arrival times kept per provider, newest last: enough to measure a rate limit over minutes of
# traffic, bounded so that a long-running emulator does not grow without end.
ARRIVALS_KEPT = 10_000


class EmulatorState:
    """Counts, fault rules and latency settings, starting from an ``EmulatorConfig``."""

    def __init__(self, config: EmulatorConfig, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.clock = clock
        self.rules: list[FaultRule] = []
        self.latency = LatencySettings()
        self.reset()

    def reset(self) -> None:
        """Counts, faults and latency back to the start configuration."""
        self.rules = list(self.config.rules)
        self.latency = self.config.latency.model_copy(deep=True)
        self.total = 0
        self.by_provider: Counter[str] = Counter()
        self.by_model: Counter[str] = Counter()
        self.by_status: Counter[str] = Counter()
        self.by_job: Counter[str] = Counter()
        self.by_job_status: dict[str, Counter[str]] = {}
        self.closed_by_client: dict[str, dict[str, int]] = {}
        self.arrivals: dict[str, deque[float]] = {}
        self._rule_calls: Counter[tuple[int, str, str]] = Counter()

    def set_rules(self, rules: list[FaultRule]) -> None:
        """Replace the fault rules; their call counters start again from zero."""
        self.rules = list(rules)
        self._rule_calls.clear()

    def record_received(self, provider: str, model: str | None, job_id: str | None) -> int:
        """Count a request on arrival; returns its number among its provider's calls."""
        self.total += 1
        self.by_provider[provider] += 1
        if model is not None:
            self.by_model[f"{provider}/{model}"] += 1
        if job_id:
            self.by_job[job_id] += 1
        self.arrivals.setdefault(provider, deque(maxlen=ARRIVALS_KEPT)).append(self.clock())
        return self.by_provider[provider]

    def record_outcome(self, job_id: str | None, outcome: str) -> None:
        """Count how a request ended: an HTTP status (``"200"``) or ``"disconnect"``."""
        self.by_status[outcome] += 1
        if job_id:
            self.by_job_status.setdefault(job_id, Counter())[outcome] += 1

    def record_client_closed(self, job_id: str | None, sent: int, planned: int) -> None:
        """A streamed answer's client hung up after ``sent`` of its ``planned`` events."""
        self.closed_by_client[job_id or "-"] = {"sent": sent, "planned": planned}

    def next_fault(self, provider: str, model: str, *, stream: bool = False) -> FaultRule | None:
        """Advance every matching rule's counter for this call and return the rule that fires."""
        numbers: list[int] = []
        for index, rule in enumerate(self.rules):
            if rule_matches(rule, provider, model, stream=stream):
                self._rule_calls[(index, provider, model)] += 1
                numbers.append(self._rule_calls[(index, provider, model)])
            else:
                numbers.append(0)
        return choose_fault(self.rules, numbers)

    def latency_for(self, provider: str, model: str) -> float:
        """Seconds to wait before answering this (provider, model)."""
        return latency_for(self.latency, provider, model)

    def calls_snapshot(self, *, times: bool = False) -> dict[str, Any]:
        """The ``GET /_emulator/calls`` body; with ``times``, also ``arrivals``: per provider,
        the epoch seconds at which its latest calls (``ARRIVALS_KEPT`` at most) arrived, oldest
        first."""
        answered = {
            job: sum(n for status, n in statuses.items() if status.startswith("2"))
            for job, statuses in self.by_job_status.items()
        }
        body: dict[str, Any] = {
            "total": self.total,
            "by_provider": dict(self.by_provider),
            "by_model": dict(self.by_model),
            "by_status": dict(self.by_status),
            "answered_by_job": answered,
            "by_job": dict(self.by_job),
            "by_job_status": {job: dict(s) for job, s in self.by_job_status.items()},
            # streamed answers whose client hung up before their end, by job id
            "closed_by_client": {job: dict(n) for job, n in self.closed_by_client.items()},
        }
        if times:
            body["arrivals"] = {name: list(kept) for name, kept in self.arrivals.items()}
        return body
