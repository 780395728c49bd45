"""Writing the end of a delivery's job: its result after an answer, or its failure.

Both end the job through the store's finish script (``broker/store.py``), which sets the result
only if none exists, so of two deliveries that race only one ends the job; the other's write is
told apart (``written`` false) and reported as a duplicate, never as a second ending.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from adapters.base import ParsedResponse
from broker.jobs import AttemptOutcome, FailedResult
from broker.reroute_chain import answer_summary
from broker.script_batch import ScriptCall, run_scripts
from broker.store import StoredJob
from workers.context import WorkerContext
from workers.delivery import CallOutcome, Delivery, RunOutcome, completion_result
from workers.holding import circuits_changed
from workers.telemetry import Telemetry

__all__ = ["fail", "succeed"]


def succeed(
    context: WorkerContext,
    telemetry: Telemetry,
    worker: str,
    now: Delivery,
    outcome: CallOutcome,
    response: ParsedResponse,
    cost: float,
    bookkeeping: list[ScriptCall[Any]],
) -> RunOutcome:
    """Write the result, with the call's circuit, spend and latency bookkeeping, in one
    round trip; the bookkeeping goes first, so a result is never visible before its
    usage is counted, and the message's acknowledgement last (``workers.message_acks``)."""
    job, target = now.stored.job, now.target
    attempt = now.attempt(
        AttemptOutcome.SUCCESS,
        started_at=outcome.started_at,
        duration_s=outcome.duration_s,
        usage=response.usage,
        cost_usd=cost,
        worker=worker,
    )
    result = completion_result(now, attempt, response, datetime.now(UTC))
    finish = context.store.finish_call(
        job.id, result, last_attempt=attempt, claim_token=now.claim_token
    )
    acks, tag = context.acks, now.delivery_tag
    if acks is None or tag is None or not acks.in_use:
        *replies, written = run_scripts(context.store.client, [*bookkeeping, finish])
    else:
        *replies, written, _ = run_scripts(
            context.store.client, [*bookkeeping, finish, acks.ack_call(tag)]
        )
        acks.settled.add(tag)
    circuits_changed(context, telemetry, replies)
    telemetry.succeeded(
        target,
        created_at=job.envelope.created_at,
        duration_s=outcome.duration_s,
        cost_usd=cost,
        usage=response.usage,
        first=written,
        number=now.number,
        attempts=result.attempts,
    )
    # "succeeded" leads: log readers count the lines that say it (tests, dashboards).
    summary = f"succeeded: {answer_summary(result.attempts)}"
    detail = summary if written else "succeeded, a duplicate"
    return RunOutcome("succeeded", detail, claim_released=True)


def fail(
    context: WorkerContext,
    telemetry: Telemetry,
    stored: StoredJob,
    hop: int,
    error_class: str,
    reason: str,
) -> RunOutcome:
    """End the job as failed at ``hop``, with every attempt recorded so far."""
    job = stored.job
    result = FailedResult(
        job_id=job.id,
        error_class=error_class,
        error_message=reason,
        attempts=context.store.attempts(job.id),
        batch_id=job.envelope.batch_id,
        tenant=job.envelope.tenant,
        finished_at=datetime.now(UTC),
    )
    if context.store.finish(job.id, result):
        telemetry.failed(
            stored.route[hop],
            created_at=job.envelope.created_at,
            error_class=error_class,
            reason=reason,
            attempts=result.attempts,
        )
    return RunOutcome("failed", f"failed: {reason}")
