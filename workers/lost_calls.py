"""Recording a call whose worker died mid-call, found by the job's next delivery.

The dead delivery left its call's mark (``broker.call_marks``): the spend hold it reserved and
the attempt to record. The next delivery counts the call at that reservation on every usage
counter (``SpendLedger.settle_lost_call``: for a hard cap an unknown cost is safest counted,
and the provider may have billed it), then records the attempt and drops the mark. Each step
happens once: a hold already gone counts nothing (the attempt is then recorded at no cost) and
a mark already gone records nothing, so a delivery that dies in between is simply repeated.
"""

from __future__ import annotations

import structlog

from broker.jobs import Attempt
from broker.script_batch import run_script
from broker.store import StoredJob
from workers.context import WorkerContext
from workers.delivery import WORKER_LOST, CallMark
from workers.telemetry import Telemetry

__all__ = ["record_lost_call"]

log = structlog.get_logger("cascade.worker")


def record_lost_call(
    context: WorkerContext, telemetry: Telemetry, stored: StoredJob, raw_mark: str
) -> Attempt:
    """Count and record the dead delivery's call; the attempt as recorded."""
    mark = CallMark.from_json(raw_mark)
    lost = mark.attempt
    counted = run_script(
        context.store.client,
        context.ledger.settle_lost_call(
            stored.job, lost.target, hold_id=mark.hold_id, now=lost.started_at
        ),
    )
    attempt = mark.counted(counted)
    context.store.calls.record_lost(stored.job.id, raw_mark, attempt)
    log.warning(
        "a delivery's worker was lost mid-call; its call is recorded and counted",
        job_id=stored.job.id,
        provider=lost.target.provider,
        model=lost.target.model,
        hop=lost.hop,
        attempt=lost.number,
        lost_worker=lost.worker,
        counted_usd=attempt.cost_usd,
    )
    telemetry.attempt_failed(
        lost.target,
        outcome=lost.outcome.value,
        duration_s=0.0,
        error_class=WORKER_LOST,
        status_code=None,
        number=lost.number,
    )
    return attempt
