"""What a worker tells the outside world about a job: Flower events, Prometheus metrics, logs.

One object per delivery, so that the runner says "retried" once and this module fans it out to
``broker.events`` (Flower), ``broker.metrics`` (Prometheus) and the structured log.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog

from broker import events, metrics
from broker.jobs import Attempt, TargetRef, Usage
from broker.reroute_chain import answer_summary, reroute_chain
from routing.circuit import Transition

__all__ = ["Telemetry"]

log = structlog.get_logger("cascade.worker")


def _no_events(event_type: str, **fields: Any) -> None:
    """Where there is no task to send events from (the runner used outside a worker)."""


@dataclass(frozen=True, slots=True)
class Telemetry:
    send: events.Send = _no_events

    def attempt_failed(
        self,
        target: TargetRef,
        *,
        outcome: str,
        duration_s: float,
        error_class: str,
        status_code: int | None,
        number: int,
    ) -> None:
        metrics.observe_attempt(
            target, outcome=outcome, duration_s=duration_s, error_class=error_class
        )
        log.info(
            "attempt failed",
            attempt=number,
            error_class=error_class,
            status_code=status_code,
            decision=outcome,
        )

    def retried(
        self,
        target: TargetRef,
        *,
        hop: int,
        number: int,
        error_class: str,
        status_code: int | None,
        countdown_s: float,
    ) -> None:
        events.job_retried(
            self.send,
            target,
            hop=hop,
            attempt=number,
            error_class=error_class,
            status_code=status_code,
            countdown_s=countdown_s,
        )

    def rerouted(
        self,
        source: TargetRef,
        destination: TargetRef,
        *,
        hop: int,
        error_class: str,
        status_code: int | None,
    ) -> None:
        events.job_rerouted(
            self.send,
            source,
            destination,
            hop=hop,
            error_class=error_class,
            status_code=status_code,
        )
        metrics.observe_reroute(source, destination, error_class=error_class)
        log.info(
            "rerouted",
            to_provider=destination.provider,
            to_model=destination.model,
            error_class=error_class,
        )

    def succeeded(
        self,
        target: TargetRef,
        *,
        created_at: datetime,
        duration_s: float,
        cost_usd: float,
        usage: Usage,
        first: bool,
        number: int,
        attempts: Sequence[Attempt] = (),
    ) -> None:
        metrics.observe_attempt(target, outcome="success", duration_s=duration_s)
        if first:
            if len(attempts) > 1:
                # Only an earlier retry or reroute left an exception on the task to clear;
                # Celery's own task-succeeded carries the summary as the result either way.
                events.job_answered(
                    self.send,
                    summary=answer_summary(attempts),
                    hop=attempts[-1].hop,
                    attempts=len(attempts),
                )
            metrics.observe_job_end(
                target,
                outcome="succeeded",
                created_at=created_at,
                cost_usd=cost_usd,
                prompt_tokens=usage.prompt_tokens,
                completion_tokens=usage.completion_tokens,
            )
        log.info("job succeeded", attempt=number, cost_usd=cost_usd, first=first)

    def failed(
        self,
        target: TargetRef,
        *,
        created_at: datetime,
        error_class: str,
        reason: str,
        attempts: Sequence[Attempt],
    ) -> None:
        metrics.observe_job_end(target, outcome="failed", created_at=created_at)
        events.job_failed(
            self.send,
            error_class=error_class,
            reason=reason,
            attempts=len(attempts),
            chain=reroute_chain(attempts),
        )
        log.warning("job failed", error_class=error_class, reason=reason)

    def circuit_changed(self, change: Transition) -> None:
        kind, _, name = change.target.partition(":")
        provider, _, subject = name.partition("/")
        model = subject if kind == "model" else None
        state = change.new.value
        events.circuit_changed(
            self.send,
            provider=provider,
            model=model,
            state=state,
            reason=f"{kind} circuit {change.old.value} -> {state}",
        )
        if model is not None:
            metrics.observe_circuit(provider, model, state)
        log.warning("circuit changed", target=change.target, old=change.old.value, new=state)
