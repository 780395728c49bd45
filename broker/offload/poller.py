"""The offload poller: parked jobs into provider batches, provider batches polled, each line's
outcome folded back or sent to the job's own queue by its fall-back time.

Any number of pollers may run (``cascade offload``, and a thread of each ``cascade worker``):
a parked job is claimed by one record in one script, and a record is acted on only by the
poller holding its lease, which a SIGKILLed poller loses after ``CASCADE_OFFLOAD_LEASE_S``. A
record found without its provider batch's id (its poller died between the two) is closed and
its jobs are offered again; a provider batch made just before that death is never read, so its
answers are paid but never used twice.

Each provider batch is asked for its status every ``status_s`` (and by the earliest fall-back
time of its lines, whichever comes first): its record's time in the due set. A provider's
webhook makes the record due now and wakes the pollers (``wakeups.py``), so a batch that ended
is folded at once however long ``status_s`` is; polling stays the fallback for a webhook lost.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

import httpx
import structlog

from adapters.base import AdapterTarget
from adapters.batch_api.outcomes import BatchItem, BatchStatus
from adapters.errors import ProviderError
from broker.offload.lines import LineActions, hold_id
from broker.offload.provider_calls import BatchApi, batch_api_for, line_size
from broker.offload.state import OffloadState, ParkedJob
from broker.offload.wakeups import listen_for_wakeups
from broker.store import StoredJob
from routing.catalog import Catalog
from routing.key_pool import key_ids
from routing.offload import BatchLine, group_lines

__all__ = ["OffloadPoller"]

log = structlog.get_logger("cascade.offload")

_RENEW_EVERY = 500  # lines folded between renewals of the record's lease


class OffloadPoller:
    def __init__(
        self,
        actions: LineActions,
        catalog: Catalog,
        http: httpx.Client,
        *,
        providers: Sequence[str],
        lease_s: int,
        status_s: float = 60.0,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.actions = actions
        self.state: OffloadState = actions.state
        self.catalog = catalog
        self.http = http
        self.providers = [name for name in providers if catalog.provider(name).batch]
        self.lease_s = lease_s
        self.status_s = status_s
        self.woken = threading.Event()
        self.token = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.environ = os.environ if environ is None else environ

    # --- the loop ------------------------------------------------------------------------

    def run(self, stop: threading.Event, every_s: float) -> None:
        """A pass every ``every_s``, sooner when a record falls due or a webhook wakes it; a
        stopper sets ``stop``, then ``woken``."""
        listen_for_wakeups(self.state.client, self.state.keys, self.woken, stop)
        while not stop.is_set():
            self.woken.clear()  # before the pass: a wake during it makes another one
            try:
                self.run_once()
                sleep_s = self._until_next(every_s)
            except Exception:  # a Redis restart or a provider outage: the next pass retries
                log.exception("offload pass failed")
                sleep_s = every_s
            self.woken.wait(sleep_s)

    def _until_next(self, every_s: float) -> float:
        due = self.state.next_due()
        if due is None:
            return every_s
        left = due - time.time()
        # Still due after this pass: another poller holds its lease (or a dead one did): look
        # again within a second, not in a loop.
        return min(every_s, left if left > 0 else 1.0)

    def run_once(self) -> None:
        for provider in self.providers:
            self.submit_parked(provider)
        for record_id in self.state.due(time.time()):
            if self.state.lease(record_id, self.token, self.lease_s):
                self.poll(record_id)

    # --- parked jobs into provider batches -----------------------------------------------

    def submit_parked(self, provider: str) -> None:
        """Unclaimed parked jobs into new provider batches; a claimed one is its record's."""
        parked = self.state.parked(provider)
        claims = self.state.claims([job.job_id for job in parked])
        now = time.time()
        free: dict[str, tuple[ParkedJob, StoredJob]] = {}
        lines: list[BatchLine] = []
        for job, holder in zip(parked, claims, strict=True):
            if holder is not None:
                continue
            stored = self.actions.store.load(job.job_id)
            if stored is None or self.actions.store.result(job.job_id) is not None:
                self.actions.fall_back(provider, job, None, "the job ended while parked")
            elif job.fall_back_at <= now:
                self.actions.fall_back(provider, job, stored, "its fall-back time came")
            elif (line := self._line(provider, stored)) is None:
                why = "the provider's batch API refused the line or is not driven"
                self.actions.fall_back(provider, job, stored, why)
            else:
                free[job.job_id] = (job, stored)
                lines.append(line)
        grouping = group_lines(lines, self.catalog)
        for job_id in grouping.too_large:
            job, stored = free[job_id]
            self.actions.fall_back(provider, job, stored, "the line is over the batch byte limit")
        for plan in grouping.batches:
            self._submit(provider, plan.model, plan.key, [free[i] for i in plan.job_ids])

    def _line(self, provider: str, stored: StoredJob) -> BatchLine | None:
        first = stored.route[0]
        wire = self.catalog.provider(provider).wire_format
        try:
            size = line_size(wire, BatchItem("l0", stored.job.request),
                             self._target(provider, first.model))
        except ProviderError:
            return None
        if size is None:
            return None
        return BatchLine(stored.job.id, provider, first.model, self._key_id(provider), size)

    def _submit(
        self, provider: str, model: str, key: str, jobs: Sequence[tuple[ParkedJob, StoredJob]]
    ) -> None:
        record_id = uuid.uuid4().hex
        submitted_at = datetime.now(UTC).isoformat()
        fields = {"provider": provider, "model": model, "key": key, "submitted_at": submitted_at}
        claimed = set(
            self.state.claim(provider, record_id, fields, [job.job_id for job, _ in jobs],
                             token=self.token, lease_s=self.lease_s)
        )
        held = [(job, stored) for job, stored in jobs if job.job_id in claimed]
        if not held:
            return
        order = self.state.record(record_id)["lines"].split()
        index = {job_id: n for n, job_id in enumerate(order)}
        items: list[BatchItem] = []
        for job, stored in held:
            refusal = self.actions.reserve(stored)
            if refusal is not None:
                self.actions.fall_back(provider, job, stored, f"refused by {refusal}",
                                       record_id=record_id)
            else:
                items.append(BatchItem(f"l{index[job.job_id]}", stored.job.request))
        if not items:
            self.state.close(record_id, provider)
            return
        api = self._api(provider, model)
        try:
            batch_id = api.submit(items, {"cascade_record": record_id})
        except (ProviderError, httpx.HTTPError) as exc:
            log.warning("provider batch not created", provider=provider, error=str(exc))
            for job, stored in held:
                self.actions.fall_back(provider, job, stored, f"the provider batch failed: "
                                       f"{exc}", record_id=record_id)
            self.state.close(record_id, provider)
            return
        first_poll = min([time.time() + self.status_s, *(job.fall_back_at for job, _ in held)])
        self.state.submitted(record_id, provider, batch_id, first_poll)
        log.info("provider batch submitted", provider=provider, batch_id=batch_id,
                 lines=len(items), record=record_id)

    # --- provider batches polled ---------------------------------------------------------

    def poll(self, record_id: str) -> None:
        record = self.state.record(record_id)
        provider = record.get("provider")
        if not provider or "batch_id" not in record:
            # died between the claim and the provider's answer: offer its jobs again
            self._release_holds(record)
            self.state.close(record_id, provider or "")
            return
        lines = record["lines"].split()
        jobs = self._live(provider, self._still_parked(provider, lines))
        if not jobs:
            # every line answered, fallen back or ended by a cancel: stop paying for the rest
            self._cancel_quietly(provider, record)
            self._finish_record(record_id, record, provider)
            return
        api = self._api(provider, record["model"])
        status = api.status(record["batch_id"])
        due = [job for job in jobs.values() if job.fall_back_at <= time.time()]
        cancelled = "cancel_sent" in record
        if status.state != "ended" and due and not cancelled:
            # keep what the provider answered so far: cancel, then read what it kept
            api.cancel(record["batch_id"])
            self.state.set_fields(record_id, {"cancel_sent": "1"})
            cancelled = True
            status = api.status(record["batch_id"])
        if status.state == "ended":
            self._fold(record_id, record, provider, lines, jobs, api, status,
                       cancelled_for_time=cancelled)
            self._finish_record(record_id, record, provider)
            return
        why = "its fall-back time came before the provider batch ended"
        for job in due:
            self.actions.fall_back(provider, job, self.actions.store.load(job.job_id),
                                   why, record_id=record_id, batch_id=record["batch_id"])
        self._schedule(record_id, _described(status), [j for j in jobs.values() if j not in due],
                       cancelling=bool(due) or "cancel_sent" in record)

    def _schedule(
        self, record_id: str, state: str, waiting: Sequence[ParkedJob], *, cancelling: bool
    ) -> None:
        """The record's next poll: after ``status_s``, or by its earliest fall-back time; a
        provider batch being cancelled ends soon, so it is looked at again within a pass."""
        soonest = time.time() + (min(self.status_s, 5.0) if cancelling else self.status_s)
        at = min([soonest, *(job.fall_back_at for job in waiting)])
        self.state.schedule(record_id, at, "cancelling" if cancelling else state)

    def _fold(
        self,
        record_id: str,
        record: Mapping[str, str],
        provider: str,
        lines: Sequence[str],
        jobs: Mapping[str, ParkedJob],
        api: BatchApi,
        status: BatchStatus,
        *,
        cancelled_for_time: bool = False,
    ) -> None:
        outcomes = api.results([f"l{n}" for n in range(len(lines))], status)
        submitted_at = datetime.fromisoformat(record["submitted_at"])
        worker = f"offload:{provider}:{record['batch_id']}"
        for number, (job_id, outcome) in enumerate(zip(lines, outcomes, strict=True)):
            if number % _RENEW_EVERY == _RENEW_EVERY - 1:
                # a long fold keeps its lease: another poller folding the same lines would
                # only be refused by SET NX, after paying round trips for nothing
                self.state.lease(record_id, self.token, self.lease_s)
            job = jobs.get(job_id)
            if job is None:
                continue  # answered or fallen back already
            held = self.actions.store.load(job_id)
            if outcome.state == "succeeded" and outcome.answer is not None and held is not None:
                self.actions.answer(provider, job, held, outcome.answer,
                                    submitted_at=submitted_at, worker=worker)
                continue
            if cancelled_for_time and outcome.state == "cancelled":
                why = ("its fall-back time came before the provider batch answered it (the "
                       "batch was cancelled, keeping what it had answered)")
            else:
                why = f"the provider batch line ended {outcome.state}" + (
                    f": {outcome.error}" if outcome.error is not None else "")
            self.actions.fall_back(provider, job, held, why, record_id=record_id,
                                   batch_id=record["batch_id"])

    def _finish_record(self, record_id: str, record: Mapping[str, str], provider: str) -> None:
        self.state.close(record_id, provider)
        log.info("provider batch settled", provider=provider, record=record_id,
                 batch_id=record.get("batch_id"))

    def _release_holds(self, record: Mapping[str, str]) -> None:
        for job_id in record.get("lines", "").split():
            self.actions.spend.release(hold_id(job_id))

    def _live(self, provider: str, jobs: Mapping[str, ParkedJob]) -> dict[str, ParkedJob]:
        """The parked jobs that have not ended; one that has (its batch or itself cancelled)
        leaves its parking here."""
        live: dict[str, ParkedJob] = {}
        for (job_id, job), ended in zip(jobs.items(), self.state.ended(list(jobs)), strict=True):
            if ended:
                self.actions.fall_back(provider, job, None, "the job ended while offloaded")
            else:
                live[job_id] = job
        return live

    def _cancel_quietly(self, provider: str, record: Mapping[str, str]) -> None:
        """Cancel the provider batch where it still runs; a failure is only logged (the
        provider ends it by its window anyway, and nothing of it is read any more)."""
        try:
            api = self._api(provider, record["model"])
            if api.status(record["batch_id"]).state == "running":
                api.cancel(record["batch_id"])
                log.info("provider batch cancelled", provider=provider,
                         batch_id=record["batch_id"])
        except (ProviderError, httpx.HTTPError) as exc:
            log.warning("provider batch not cancelled", batch_id=record["batch_id"],
                        error=str(exc))

    def _still_parked(self, provider: str, lines: Sequence[str]) -> dict[str, ParkedJob]:
        wanted = set(lines)
        return {job.job_id: job for job in self.state.parked(provider) if job.job_id in wanted}

    # --- where and with which key ----------------------------------------------------------

    def _target(self, provider: str, model: str) -> AdapterTarget:
        config = self.catalog.provider(provider)
        model_id = self.catalog.model(model).model_id
        return AdapterTarget(provider, config.base_url, model_id, config.options)

    def _key_id(self, provider: str) -> str:
        config = self.catalog.provider(provider)
        ids = key_ids(config.key_env_names, self.environ,
                      placeholder=config.placeholder_key is not None)
        return ids[0] if ids else ""

    def _api(self, provider: str, model: str) -> BatchApi:
        config = self.catalog.provider(provider)
        secret = config.placeholder_key or self.environ.get(self._key_id(provider), "")
        api = batch_api_for(config.wire_format, self.http, self._target(provider, model), secret)
        if api is None:
            raise ValueError(f"provider {provider!r}: no batch API for {config.wire_format}")
        return api


def _described(status: BatchStatus) -> str:
    """The provider batch's state as ``cascade status`` shows it: its own word and progress."""
    if status.done is None or status.total is None:
        return status.provider_status
    return f"{status.provider_status} ({status.done}/{status.total} lines done)"
