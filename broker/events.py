"""Celery events that tell Flower (and any event consumer) what cascade did with a job.

The worker calls these with a ``send`` function: inside the execute task that is the task's own
``send_event`` (which adds ``uuid`` = the task id = the job id, and the worker's hostname).
Events carry targets, error classes and status codes, never message contents or keys.

- ``task-retried``: Celery's own retry event, so Flower shows the job as RETRY and counts it.
- ``task-rerouted``: a custom task event; Flower shows the job in the state REROUTED.
- ``task-failed``: sent when a job ends failed, so Flower shows FAILURE for a job whose Celery
  task itself returned normally (cascade records failures as results, not exceptions).
- ``cascade-circuit``: a circuit breaker changed state; not a task event, so Flower only
  counts it and streams it to event consumers (``celery events``, the events API).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

__all__ = [
    "CIRCUIT_CHANGED",
    "JOB_FAILED",
    "JOB_REROUTED",
    "JOB_RETRIED",
    "Send",
    "TargetLike",
    "circuit_changed",
    "job_failed",
    "job_rerouted",
    "job_retried",
]

JOB_RETRIED = "task-retried"
JOB_REROUTED = "task-rerouted"
JOB_FAILED = "task-failed"
CIRCUIT_CHANGED = "cascade-circuit"

# send(event_type, **fields): Task.send_event, or EventDispatcher.send for non-task events.
Send = Callable[..., Any]


class TargetLike(Protocol):
    """What events read from a route target (``broker.jobs.TargetRef`` has these)."""

    @property
    def provider(self) -> str: ...

    @property
    def model(self) -> str: ...

    @property
    def tier(self) -> str: ...

    @property
    def queue(self) -> str: ...


def _error(error_class: str, status_code: int | None) -> str:
    return error_class if status_code is None else f"{error_class} (HTTP {status_code})"


def job_retried(
    send: Send,
    target: TargetLike,
    *,
    hop: int,
    attempt: int,
    error_class: str,
    status_code: int | None,
    countdown_s: float,
) -> None:
    """The same target will be called again after ``countdown_s``."""
    send(
        JOB_RETRIED,
        exception=_error(error_class, status_code),
        traceback="",
        provider=target.provider,
        model=target.model,
        tier=target.tier,
        queue=target.queue,
        hop=hop,
        attempt=attempt,
        error_class=error_class,
        status_code=status_code,
        countdown_s=round(countdown_s, 3),
    )


def job_rerouted(
    send: Send,
    source: TargetLike,
    destination: TargetLike,
    *,
    hop: int,
    error_class: str,
    status_code: int | None,
) -> None:
    """The job gave up on ``source`` (at ``hop``) and was published to ``destination``."""
    send(
        JOB_REROUTED,
        reason=_error(error_class, status_code),
        hop=hop,
        next_hop=hop + 1,
        from_provider=source.provider,
        from_model=source.model,
        to_provider=destination.provider,
        to_model=destination.model,
        to_tier=destination.tier,
        to_queue=destination.queue,
        error_class=error_class,
        status_code=status_code,
    )


def job_failed(send: Send, *, error_class: str, reason: str, attempts: int) -> None:
    """The job ended without an answer; ``reason`` is cascade's own wording, not provider text."""
    send(
        JOB_FAILED,
        exception=f"{error_class}: {reason}",
        traceback="",
        error_class=error_class,
        attempts=attempts,
    )


def circuit_changed(
    send: Send, *, provider: str, model: str | None, state: str, reason: str = ""
) -> None:
    """A circuit breaker moved to ``state`` (closed, half_open or open)."""
    send(CIRCUIT_CHANGED, provider=provider, model=model or "", state=state, reason=reason)
