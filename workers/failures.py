"""What a failed call, a skipped target or an answer that failed its check leads to.

Each records its attempt (which takes the call's mark away), then carries out the decision:
a retry of the same hop, a reroute to a later one, a hold at the last hop, or the job's failure
(``workers/endings.py``). The decisions themselves are pure (``workers/delivery.py``,
``workers/decisions.py``, ``workers/holding.py``); this module writes and reports them.
"""

from __future__ import annotations

from datetime import UTC, datetime

import structlog

from adapters.errors import ProviderError
from broker.jobs import AttemptOutcome, Usage
from broker.script_batch import run_scripts
from broker.store import StoredJob
from workers.admission import Skip
from workers.context import WorkerContext
from workers.decisions import Decision, Fail, Reroute, Retry
from workers.delivery import (
    CallOutcome,
    Delivery,
    RunOutcome,
    attempt_kind,
    planned_outcome,
    retry_decision,
    skip_decision,
)
from workers.endings import fail
from workers.holding import HoldPolicy, held
from workers.telemetry import Telemetry

__all__ = ["failed_call", "invalid_answer", "skipped"]

log = structlog.get_logger("cascade.worker")


def failed_call(
    context: WorkerContext,
    telemetry: Telemetry,
    worker: str,
    now: Delivery,
    outcome: CallOutcome,
    error: ProviderError,
) -> RunOutcome:
    """Record the failed call and retry, reroute or fail as its error and the route decide."""
    provider = context.catalog.provider(now.target.provider)
    windows = _context_windows(context, now.stored)
    decision = retry_decision(now, error, provider, context.settings, windows)
    kind = attempt_kind(decision)
    context.store.add_attempt(
        now.job_id,
        now.attempt(
            kind,
            started_at=outcome.started_at,
            duration_s=outcome.duration_s,
            error_class=error.error_class,
            error_message=error.message[:500],
            status_code=error.status_code,
            worker=worker,
        ),
        ends_call=True,
    )
    telemetry.attempt_failed(
        now.target,
        outcome=kind.value,
        duration_s=outcome.duration_s,
        error_class=error.error_class,
        status_code=error.status_code,
        number=now.number,
    )
    return _carry_out(context, telemetry, now, decision, error.error_class, error.status_code)


def invalid_answer(
    context: WorkerContext,
    telemetry: Telemetry,
    worker: str,
    now: Delivery,
    outcome: CallOutcome,
    usage: Usage,
    cost: float,
    reason: str,
    escalate_to: int,
) -> RunOutcome:
    """Record the paid call whose answer failed the caller's schema and hand the job to the
    next tier, at ``escalate_to``."""
    context.store.add_attempt(
        now.job_id,
        now.attempt(
            AttemptOutcome.REROUTE,
            started_at=outcome.started_at,
            duration_s=outcome.duration_s,
            error_class="AnswerInvalid",
            error_message=reason[:500],
            usage=usage,
            cost_usd=cost,
            worker=worker,
        ),
        ends_call=True,
    )
    return _carry_out(context, telemetry, now, Reroute(escalate_to), "AnswerInvalid", None)


def skipped(
    context: WorkerContext,
    telemetry: Telemetry,
    worker: str,
    now: Delivery,
    skip: Skip,
    policy: HoldPolicy,
) -> RunOutcome:
    """Pass the target over without a call and move on along the route; the attempt
    recorded for it removes the mark of the call that was not made."""
    decision = skip_decision(now.hop, _context_windows(context, now.stored), skip.reason)
    if isinstance(decision, Fail):
        hold = held(now, skip, policy)
        if isinstance(hold, str):  # held as long as it may be: it ends now, saying so
            decision = Fail(f"{hold}; last: {skip.reason}")
        elif hold is not None:  # unavailable for now, not for good: wait, do not fail
            # No attempt takes the call's mark away here (a spend cap refuses after the
            # mark was set): left, the next look would count a lost call.
            run_scripts(context.store.client, [context.store.calls.unmark_call(now.job_id)])
            log.info("held: no target can take the job for now", reason=skip.reason)
            return hold
    context.store.add_attempt(
        now.job_id,
        now.attempt(
            AttemptOutcome.SKIPPED,
            started_at=datetime.now(UTC),
            duration_s=0.0,
            error_class=skip.error_class,
            error_message=skip.reason,
            worker=worker,
        ),
        ends_call=True,
    )
    log.info(
        "target skipped",
        error_class=skip.error_class,
        reason=skip.reason,
        decision=type(decision).__name__,
    )
    return _carry_out(context, telemetry, now, decision, skip.error_class, None)


def _carry_out(
    context: WorkerContext,
    telemetry: Telemetry,
    now: Delivery,
    decision: Decision,
    error_class: str,
    status_code: int | None,
) -> RunOutcome:
    if isinstance(decision, Retry):
        telemetry.retried(
            now.target,
            hop=now.hop,
            number=now.number,
            error_class=error_class,
            status_code=status_code,
            countdown_s=decision.countdown_s,
        )
    elif isinstance(decision, Reroute):
        telemetry.rerouted(
            now.target,
            now.stored.route[decision.hop],
            hop=now.hop,
            error_class=error_class,
            status_code=status_code,
        )
    else:
        failed_as = decision.error_class or error_class
        return fail(context, telemetry, now.stored, now.hop, failed_as, decision.reason)
    return planned_outcome(now, decision)


def _context_windows(context: WorkerContext, stored: StoredJob) -> list[int]:
    """Each route target's context window, in route order."""
    return [context.catalog.model(item.model).context_window for item in stored.route]
