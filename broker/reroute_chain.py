"""A job's way along its route, told in words for Flower: each hop, from where to where, and why.

Flower's task page shows only Celery's own task fields (result, exception, traceback, ...), so
cascade's events put the story there (``broker/events.py``): a rerouted job's ``exception`` is the
move it just made, a finished job's ``result`` (answered) or ``traceback`` (failed) is its whole
chain. Built from the job's attempts alone, so any reader of a result can tell it the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import groupby
from typing import Protocol

from broker.jobs import Attempt, AttemptOutcome

__all__ = ["Place", "answer_summary", "reroute_chain", "reroute_step"]


class Place(Protocol):
    """Where a hop ran (``broker.jobs.TargetRef`` has these)."""

    @property
    def provider(self) -> str: ...

    @property
    def model(self) -> str: ...

    @property
    def queue(self) -> str: ...


def _where(target: Place) -> str:
    return f"{target.provider}/{target.model} ({target.queue})"


def _why(error_class: str | None, status_code: int | None) -> str:
    reason = error_class or "no reason recorded"
    return reason if status_code is None else f"{reason} (HTTP {status_code})"


def reroute_step(
    source: Place,
    destination: Place,
    *,
    hop: int,
    error_class: str | None,
    status_code: int | None,
) -> str:
    """One move: ``hop 0 alpha/a1 (fast.alpha) -> hop 1 beta/b1 (fast.beta): ServerError``."""
    return (
        f"hop {hop} {_where(source)} -> hop {hop + 1} {_where(destination)}: "
        f"{_why(error_class, status_code)}"
    )


def reroute_chain(attempts: Sequence[Attempt]) -> list[str]:
    """Every move the attempts show, in order: a reroute between consecutive hops, or a new
    run (a replay from the dead letters) starting again at its first hop."""
    hops = [list(group) for _, group in groupby(attempts, key=lambda item: (item.run, item.hop))]
    steps: list[str] = []
    for left, right in zip(hops, hops[1:], strict=False):
        last, first = left[-1], right[0]
        if first.run != last.run:
            steps.append(f"replay {first.run}: from hop {first.hop} {_where(first.target)}")
            continue
        reason = _why(last.error_class, last.status_code)
        if last.outcome == AttemptOutcome.SKIPPED:
            reason = f"skipped, {last.error_message or reason}"
        steps.append(
            f"hop {last.hop} {_where(last.target)} -> hop {first.hop} {_where(first.target)}: "
            f"{reason}"
        )
    return steps


def answer_summary(attempts: Sequence[Attempt]) -> str:
    """One line for an answered job: who answered, and the moves before it."""
    if not attempts:
        return "answered"
    final = attempts[-1]
    told = f"answered by {_where(final.target)} at hop {final.hop}"
    steps = reroute_chain(attempts)
    return f"{told}, after {'; '.join(steps)}" if steps else told
