"""Running one delivery of a job: guard against duplicates, call the target, carry out the decision.

This is the execute task without Celery: the task hands it a job id, the hop and a function that
publishes a job's next message, so the whole flow is testable against a real Redis and the
emulator without a worker process.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog

from adapters.base import AdapterTarget, ParsedResponse
from adapters.errors import AuthError, ProviderError, ServerError
from adapters.registry import get_adapter
from broker.jobs import (
    Attempt,
    AttemptOutcome,
    CompletionResult,
    FailedResult,
    TargetRef,
)
from broker.store import StoredJob
from routing.catalog import MissingApiKeyError
from routing.estimate import actual_cost_usd
from workers.calls import call_provider
from workers.context import WorkerContext
from workers.decisions import Decision, Reroute, Retry, RetryPolicy, decide

__all__ = ["JobRunner", "Publish"]

log = structlog.get_logger("cascade.worker")

# publish(job_id, hop, queue, countdown_s): send the job's next message.
Publish = Callable[[str, int, str, float | None], None]


@dataclass(frozen=True, slots=True)
class _CallOutcome:
    response: ParsedResponse | None
    error: ProviderError | None
    started_at: datetime
    duration_s: float


class JobRunner:
    def __init__(self, context: WorkerContext, publish: Publish, worker: str) -> None:
        self.context = context
        self.publish = publish
        self.worker = worker

    def run(self, job_id: str, hop: int) -> str:
        """Run route[hop] of the job once; returns what happened, for the log."""
        store = self.context.store
        if store.result(job_id) is not None:
            return "already finished: this delivery is a duplicate"
        stored = store.load(job_id)
        if stored is None:
            return "unknown job: never submitted, or expired"
        if stored.hop > hop:
            return f"stale delivery: the job has moved on to hop {stored.hop}"
        token = f"{self.worker}:{uuid.uuid4().hex}"
        if not store.claim(job_id, token, self.context.settings.claim_ttl_s):
            # Another delivery holds the job. It may have died mid-call, so this message is not
            # dropped: it comes back once that claim has run out, and stands down then if the
            # job has ended.
            wait = store.claim_seconds_left(job_id) + 1.0
            self.publish(job_id, hop, stored.route[hop].queue, wait)
            return f"another delivery of this job is running; looking again in {wait:.0f}s"
        try:
            return self._run_claimed(stored, hop)
        finally:
            store.release(job_id, token)

    def _run_claimed(self, stored: StoredJob, hop: int) -> str:
        job, target = stored.job, stored.route[hop]
        structlog.contextvars.bind_contextvars(
            job_id=job.id,
            batch_id=job.envelope.batch_id,
            tenant=job.envelope.tenant,
            provider=target.provider,
            model=target.model,
            hop=hop,
        )
        try:
            if self._seconds_to_deadline(stored) == 0:
                return self._fail(stored, "DeadlineExceeded", "the job's deadline passed")
            self.context.store.mark_running(job.id, hop)
            previous = self.context.store.attempts(job.id)
            number = 1 + sum(
                1 for item in previous if item.hop == hop and item.run == stored.run
            )
            outcome = self._call(stored, target)
            if outcome.response is not None:
                return self._succeed(stored, hop, number, outcome, previous)
            assert outcome.error is not None
            decision = self._decide(stored, hop, number, outcome.error)
            self._record(stored, hop, number, outcome, decision)
            return self._carry_out(stored, hop, decision, outcome.error)
        finally:
            structlog.contextvars.clear_contextvars()

    def _call(self, stored: StoredJob, target: TargetRef) -> _CallOutcome:
        provider = self.context.catalog.provider(target.provider)
        where = AdapterTarget(target.provider, provider.base_url, target.model_id, provider.options)
        started_at, start = datetime.now(UTC), time.perf_counter()
        response: ParsedResponse | None = None
        error: ProviderError | None = None
        try:
            response = call_provider(
                self.context.http(target.provider),
                get_adapter(provider.wire_format),
                stored.job.request,
                where,
                self.context.api_key(target.provider),
                job_id=stored.job.id,
            )
        except ProviderError as exc:
            error = exc
        except MissingApiKeyError as exc:
            error = AuthError(str(exc))
        except Exception as exc:  # a bug must cost a retry or a reroute, never the job itself
            log.exception("unexpected error in a provider call")
            error = ServerError(f"cascade internal error: {type(exc).__name__}: {exc}")
        return _CallOutcome(response, error, started_at, time.perf_counter() - start)

    def _decide(self, stored: StoredJob, hop: int, number: int, error: ProviderError) -> Decision:
        catalog = self.context.catalog
        provider = catalog.provider(stored.route[hop].provider)
        settings = self.context.settings
        return decide(
            error,
            hop=hop,
            calls_on_target=number,
            context_windows=[catalog.model(item.model).context_window for item in stored.route],
            policy=RetryPolicy(
                max_retries=provider.max_retries,
                base_backoff_s=settings.base_backoff_s,
                max_backoff_s=settings.max_backoff_s,
                max_retry_after_s=settings.max_retry_after_s,
            ),
            seconds_to_deadline=self._seconds_to_deadline(stored),
            reroute_on_content_block=stored.job.needs.reroute_on_content_block,
        )

    def _record(
        self, stored: StoredJob, hop: int, number: int, outcome: _CallOutcome, decision: Decision
    ) -> None:
        error = outcome.error
        assert error is not None
        kind = {Retry: AttemptOutcome.RETRY, Reroute: AttemptOutcome.REROUTE}.get(
            type(decision), AttemptOutcome.FAILED
        )
        self.context.store.add_attempt(
            stored.job.id,
            Attempt(
                target=stored.route[hop],
                hop=hop,
                run=stored.run,
                number=number,
                started_at=outcome.started_at,
                duration_s=outcome.duration_s,
                outcome=kind,
                error_class=error.error_class,
                error_message=error.message[:500],
                status_code=error.status_code,
                worker=self.worker,
            ),
        )
        log.info(
            "attempt failed",
            attempt=number,
            error_class=error.error_class,
            status_code=error.status_code,
            decision=type(decision).__name__,
        )

    def _carry_out(
        self, stored: StoredJob, hop: int, decision: Decision, error: ProviderError
    ) -> str:
        job_id = stored.job.id
        if isinstance(decision, Retry):
            self.publish(job_id, hop, stored.route[hop].queue, decision.countdown_s)
            return f"retry in {decision.countdown_s:.2f}s on hop {hop}"
        if isinstance(decision, Reroute):
            # Publish before recording the move: a crash between the two re-runs this hop
            # (at-least-once) rather than losing the job.
            self.publish(job_id, decision.hop, stored.route[decision.hop].queue, None)
            self.context.store.advance(job_id, decision.hop)
            return f"rerouted to hop {decision.hop} ({stored.route[decision.hop].queue})"
        return self._fail(stored, error.error_class, decision.reason)

    def _succeed(
        self,
        stored: StoredJob,
        hop: int,
        number: int,
        outcome: _CallOutcome,
        previous: list[Attempt],
    ) -> str:
        response = outcome.response
        assert response is not None
        target = stored.route[hop]
        cost = actual_cost_usd(self.context.catalog.model(target.model), response.usage)
        attempt = Attempt(
            target=target,
            hop=hop,
            run=stored.run,
            number=number,
            started_at=outcome.started_at,
            duration_s=outcome.duration_s,
            outcome=AttemptOutcome.SUCCESS,
            usage=response.usage,
            cost_usd=cost,
            worker=self.worker,
        )
        self.context.store.add_attempt(stored.job.id, attempt)
        attempts = [*previous, attempt]
        result = CompletionResult(
            id=response.id,
            created=response.created,
            model=response.model,
            choices=response.choices,
            usage=response.usage,
            system_fingerprint=response.system_fingerprint,
            job_id=stored.job.id,
            provider=target.provider,
            tier=target.tier,
            cost_usd=sum(item.cost_usd for item in attempts),
            attempts=attempts,
            batch_id=stored.job.envelope.batch_id,
            tenant=stored.job.envelope.tenant,
            finished_at=datetime.now(UTC),
        )
        written = self.context.store.finish(stored.job.id, result)
        log.info("job succeeded", attempt=number, cost_usd=cost, first=written)
        return "succeeded" if written else "succeeded, but another delivery had finished it"

    def _fail(self, stored: StoredJob, error_class: str, reason: str) -> str:
        job = stored.job
        result = FailedResult(
            job_id=job.id,
            error_class=error_class,
            error_message=reason,
            attempts=self.context.store.attempts(job.id),
            batch_id=job.envelope.batch_id,
            tenant=job.envelope.tenant,
            finished_at=datetime.now(UTC),
        )
        self.context.store.finish(job.id, result)
        log.warning("job failed", error_class=error_class, reason=reason)
        return f"failed: {reason}"

    @staticmethod
    def _seconds_to_deadline(stored: StoredJob) -> float | None:
        deadline = stored.job.envelope.deadline
        if deadline is None:
            return None
        return max(0.0, (deadline - datetime.now(UTC)).total_seconds())
