"""Celery events that tell Flower (and any event consumer) what cascade did with a job.

The worker calls these with a ``send`` function: inside the execute task that is the task's own
``send_event`` (which adds ``uuid`` = the task id = the job id, and the worker's hostname).
Events carry targets, error classes and status codes, never message contents or keys.

- ``task-retried``: Celery's own retry event, so Flower shows the job as RETRY and counts it.
- ``task-rerouted``: a custom task event; Flower shows the job in the state REROUTED, with the
  move (hop, from where to where, why) as its exception.
- ``task-answered``: sent when a job is answered after an earlier attempt (a retry or a
  reroute), just before Celery's own ``task-succeeded``: it clears the exception that attempt left
  on the task, so that a finished job's page does not show it as the job's own. A job answered at
  its first attempt has nothing to clear and gets only ``task-succeeded`` (one publish fewer per
  job). The task's result is the reroute chain.
- ``task-failed``: sent when a job ends failed, so Flower shows FAILURE for a job whose Celery
  task itself returned normally (cascade records failures as results, not exceptions); its
  traceback is the reroute chain.

Flower's task page shows only Celery's own task fields, so the chain is told in those
(``broker/reroute_chain.py``); the structured fields are there for event consumers.
- ``cascade-circuit``: a circuit breaker changed state; not a task event, so Flower only
  counts it and streams it to event consumers (``celery events``, the events API).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from broker.reroute_chain import reroute_step

__all__ = [
    "CIRCUIT_CHANGED",
    "JOB_ANSWERED",
    "JOB_FAILED",
    "JOB_REROUTED",
    "JOB_RETRIED",
    "Send",
    "TargetLike",
    "circuit_changed",
    "job_answered",
    "job_failed",
    "job_rerouted",
    "job_retried",
]

JOB_RETRIED = "task-retried"
JOB_REROUTED = "task-rerouted"
JOB_FAILED = "task-failed"
JOB_ANSWERED = "task-answered"
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
    move = reroute_step(
        source, destination, hop=hop, error_class=error_class, status_code=status_code
    )
    send(
        JOB_REROUTED,
        # Shown by Flower in place of the retry's exception, which was the earlier hop's.
        exception=f"rerouted: {move}",
        traceback="",
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


def job_answered(send: Send, *, summary: str, hop: int, attempts: int) -> None:
    """The job was answered at ``hop``; ``summary`` tells its way there (reroute_chain)."""
    send(
        JOB_ANSWERED,
        exception=None,
        traceback=None,
        summary=summary,
        hop=hop,
        attempts=attempts,
    )


def job_failed(
    send: Send, *, error_class: str, reason: str, attempts: int, chain: Sequence[str] = ()
) -> None:
    """The job ended without an answer; ``reason`` is cascade's own wording, not provider text;
    ``chain`` is every move it made before (reroute_chain), shown as the task's traceback."""
    send(
        JOB_FAILED,
        exception=f"{error_class}: {reason}",
        traceback="\n".join(chain),
        error_class=error_class,
        attempts=attempts,
        chain=list(chain),
    )


def circuit_changed(
    send: Send, *, provider: str, model: str | None, state: str, reason: str = ""
) -> None:
    """A circuit breaker moved to ``state`` (closed, half_open or open)."""
    send(CIRCUIT_CHANGED, provider=provider, model=model or "", state=state, reason=reason)
