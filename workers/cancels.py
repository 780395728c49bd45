"""Ending a streamed job whose caller disconnected (``broker/job_cancel.py``): the call is
stopped (or never made), and the job ends ``Cancelled`` in one round trip with the call's
bookkeeping, its partial usage counted where text streamed (the provider billed it).

The stream call (``workers/stream_calls.py``) raises ``CallCancelled`` when it finds the job's
cancel flag, before sending its request or between two reads of the body; the runner hands it
here instead of settling it as a provider's failure: the provider did nothing wrong, so no
circuit counts it and no retry follows.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from adapters.errors import ProviderError
from broker.job_cancel import CANCELLED, disconnect_message
from broker.jobs import AttemptOutcome, FailedResult, Usage
from broker.script_batch import ScriptCall, run_scripts
from routing.estimate import actual_cost_usd
from workers.admission import Admitted
from workers.context import WorkerContext
from workers.delivery import CallOutcome, Delivery, RunOutcome
from workers.telemetry import Telemetry

__all__ = ["CallCancelled", "end_cancelled"]


class CallCancelled(ProviderError):
    """cascade stopped the call (its caller went away), not the provider; ``usage`` is what
    the call was billed for so far (None: no request was sent)."""

    def __init__(self, usage: Usage | None) -> None:
        super().__init__(disconnect_message(streamed=usage is not None))
        self.usage = usage

    @property
    def error_class(self) -> str:
        return CANCELLED


def end_cancelled(
    context: WorkerContext,
    telemetry: Telemetry,
    worker: str,
    now: Delivery,
    gate: Admitted,
    outcome: CallOutcome,
) -> RunOutcome:
    """End the job as cancelled, with the stopped call's attempt, spend and circuit permits
    settled and the claim let go, in one round trip."""
    cancelled = outcome.error
    assert isinstance(cancelled, CallCancelled)
    job, target = now.stored.job, now.target
    bookkeeping: list[ScriptCall[Any]] = []
    attempts = list(now.previous)
    last = None
    if cancelled.usage is None:  # no request went out
        context.gatekeeper.cancel(target, gate)
        bookkeeping += [
            context.ledger.release_call(now.hold_id),
            context.store.calls.unmark_call(now.job_id),
        ]
    else:
        cost = actual_cost_usd(context.catalog.model(target.model), cancelled.usage)
        bookkeeping += [
            *context.gatekeeper.settle_calls(
                target, gate, error=None, latency_s=outcome.duration_s
            ),
            context.ledger.settle_call(job, target, cancelled.usage, cost, hold_id=now.hold_id),
        ]
        last = now.attempt(
            AttemptOutcome.FAILED,
            started_at=outcome.started_at,
            duration_s=outcome.duration_s,
            error_class=CANCELLED,
            error_message=f"{cancelled.message}; its usage is estimated from what it streamed",
            usage=cancelled.usage,
            cost_usd=cost,
            worker=worker,
        )
        attempts.append(last)
    result = FailedResult(
        job_id=job.id,
        error_class=CANCELLED,
        error_message=cancelled.message,
        attempts=attempts,
        batch_id=job.envelope.batch_id,
        tenant=job.envelope.tenant,
        finished_at=datetime.now(UTC),
    )
    finish = context.store.finish_call(
        job.id, result, last_attempt=last, claim_token=now.claim_token
    )
    *_, written = run_scripts(context.store.client, [*bookkeeping, finish])
    if written:
        telemetry.failed(
            target,
            created_at=job.envelope.created_at,
            error_class=CANCELLED,
            reason=cancelled.message,
            attempts=attempts,
        )
    return RunOutcome("failed", f"cancelled: {cancelled.message}", claim_released=True)
