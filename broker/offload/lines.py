"""What happens to one parked job's line: answered (its result written once, its usage counted
at the batch price), or sent back to its own queue (its reservation let go)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import structlog

from adapters.base import ParsedResponse
from broker.jobs import CompletionJob
from broker.offload.fold import batch_priced, fold_answer
from broker.offload.state import OffloadState, ParkedJob
from broker.store import JobStore, StoredJob
from routing.catalog import Catalog
from routing.spend import SpendLedger
from routing.spend_rules import estimate_call

__all__ = ["LineActions", "hold_id"]

log = structlog.get_logger("cascade.offload")


def hold_id(job_id: str) -> str:
    """The spend hold that covers an offloaded job until its line settles."""
    return f"{job_id}:offload"


@dataclass
class LineActions:
    state: OffloadState
    store: JobStore
    spend: SpendLedger
    catalog: Catalog

    def reserve(self, stored: StoredJob) -> str | None:
        """Hold the line's ceiling at the batch price against the caps; why not, or None."""
        job, first = stored.job, stored.route[0]
        model = batch_priced(self.catalog.model(first.model))
        grant = self.spend.reserve(
            job, first, hold_id=hold_id(job.id), estimate=estimate_call(job, model)
        )
        return None if grant.allowed else grant.reason or "a spend cap"

    def answer(
        self,
        provider: str,
        parked: ParkedJob,
        stored: StoredJob,
        answer: ParsedResponse,
        *,
        submitted_at: datetime,
        worker: str,
    ) -> bool:
        """Count the line (the provider charged for it whatever else happened), then write
        the result unless the job has one; True if this ended the job. Counting first: a
        poller killed between the two writes the result on the next pass, and the hold it
        settled is gone by then, so nothing is counted twice."""
        job, first = stored.job, stored.route[0]
        folded = fold_answer(
            job,
            first,
            self.catalog.model(first.model),
            answer,
            submitted_at=submitted_at,
            finished_at=datetime.now(UTC),
            worker=worker,
        )
        usage = folded.result.usage
        self.spend.settle(job, first, usage, folded.result.cost_usd, hold_id=hold_id(job.id))
        ended = self.store.finish(job.id, folded.result, last_attempt=folded.attempt)
        if ended:
            self.state.add_saved(job.envelope.tenant, round(folded.saved_usd * 1e9))
        self.state.unpark(provider, parked)
        return ended

    def fall_back(
        self, provider: str, parked: ParkedJob, stored: StoredJob | None, why: str,
        *, record_id: str = "", batch_id: str = "",
    ) -> bool:
        """Send the job to its own queue (True), or drop its parking if it ended meanwhile;
        ``batch_id`` is the provider batch it leaves, if it was in one."""
        self.spend.release(hold_id(parked.job_id))
        if stored is None:
            self.state.unpark(provider, parked)
            return False
        moved = self.state.fall_back(provider, parked, stored.route[0].queue, record_id=record_id)
        if moved == 1:
            self._note(stored.job, why, batch_id)
        return moved == 1

    def _note(self, job: CompletionJob, why: str, batch_id: str) -> None:
        """Why the job left its offload, on its record (``cascade status`` shows it)."""
        pipe = self.state.client.pipeline(transaction=False)
        pipe.hset(self.state.keys.job(job.id), "offload_fallback", why)
        if batch_id:
            pipe.hset(self.state.keys.job(job.id), "offload_batch", batch_id)
        pipe.execute()
        log.info("offload fell back", job_id=job.id, reason=why, batch_id=batch_id or None)
