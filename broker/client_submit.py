"""The submit path of ``CascadeClient``: validate, plan and check jobs, then enqueue them.

A job is validated and its route planned before anything is written, so bad input is refused
with the path of the bad field and nothing is enqueued. ``enqueue`` writes each job's record
and its Celery message in one script per thousand jobs (``broker/job_writes.py``), which also
refuses an id that another tenant holds: the messages are built here, as Celery would build them
(``broker/task_messages.py``). The offload and price-window decisions (``broker/offload/``,
``routing/offpeak.py``) are made per job on the way and noted on each new record.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import redis
from pydantic import TypeAdapter, ValidationError

from broker.job_writes import ForeignBatch, IdTaken, JobWriter, NewJob, Written
from broker.jobs import CompletionJob, TargetRef, format_validation_error
from broker.keys import Keys
from broker.offload.choice import Placement, offload_rules, place, wait_rules
from broker.settings import Settings
from broker.submit_errors import (
    Planned,
    SubmitError,
    dotted,
    foreign_batch,
    in_jobs,
    taken,
    unlabelled,
)
from broker.task_messages import first_hop_message
from routing.catalog import Catalog
from routing.live_state import LiveStateReader
from routing.planner import LiveState, NoRoute, plan

__all__ = ["PUBLISH_BATCH", "SubmitMixin"]

PUBLISH_BATCH = 1000
_TARGETS = TypeAdapter(list[TargetRef])


class SubmitMixin:
    """``CascadeClient``'s submit methods; the client's constructor sets the attributes below.

    A mixin rather than an object the client delegates to, so that every method stays on the
    client (callers and tests replace ``client.enqueue``) and a submit makes no extra call."""

    settings: Settings
    catalog: Catalog
    redis: redis.Redis
    keys: Keys
    writer: JobWriter
    live: LiveStateReader
    _reply_to: str
    _offloading: bool

    def build_job(
        self,
        request: Mapping[str, Any] | None = None,
        *,
        tier: str | None = None,
        model: str | None = None,
        needs: Mapping[str, Any] | None = None,
        **envelope: Any,
    ) -> CompletionJob:
        """A validated job from a request body and routing needs; raises SubmitError."""
        data: dict[str, Any] = {"request": dict(request or {}), "needs": dict(needs or {})}
        if tier is not None:
            data["needs"]["tier"] = tier
        if model is not None:
            data["needs"]["model"] = model
        envelope = {key: value for key, value in envelope.items() if value is not None}
        if envelope:
            data["envelope"] = envelope
        return self.parse_job(data)

    @staticmethod
    def parse_job(data: Any, *, where: str = "") -> CompletionJob:
        """A job from its JSON form (``{"needs": ..., "request": ..., "envelope": ...}``)."""
        try:
            return CompletionJob.model_validate(data)
        except ValidationError as exc:
            raise SubmitError(_prefixed(format_validation_error(exc, data), where)) from exc

    def submit(
        self,
        request: Mapping[str, Any] | CompletionJob,
        *,
        tier: str | None = None,
        model: str | None = None,
        needs: Mapping[str, Any] | None = None,
        job_id: str | None = None,
        tenant: str | None = None,
        batch_id: str | None = None,
        deadline: datetime | None = None,
        tags: Mapping[str, str] | None = None,
        priority: str | None = None,
    ) -> str:
        """Validate, plan and enqueue one job; returns its id."""
        if isinstance(request, CompletionJob):
            job = request
        else:
            job = self.build_job(
                request,
                tier=tier,
                model=model,
                needs=needs,
                id=job_id,
                tenant=tenant,
                batch_id=batch_id,
                deadline=deadline,
                tags=dict(tags) if tags else None,
                priority=priority,
            )
        self.enqueue(self.plan_many([job], where=unlabelled))
        return job.id

    def submit_many(self, jobs: Iterable[CompletionJob | Mapping[str, Any]]) -> list[str]:
        """Validate and plan every job, then enqueue them all; returns their ids in order.

        One bad job refuses the whole lot: the error names its index and field, and nothing is
        written. A job whose id its tenant already holds is not enqueued again (its id is
        returned), so that a submit retried after a lost answer or a Redis error runs no job
        twice and completes exactly the jobs that are missing. An id another tenant holds is
        refused with ``IdConflict``.
        """
        planned = self.plan_many(jobs)
        self.enqueue(planned)
        return [item.job.id for item in planned]

    def plan_many(
        self,
        jobs: Iterable[CompletionJob | Mapping[str, Any]],
        *,
        new_batches: frozenset[str] = frozenset(),
        where: Callable[[int], str] = in_jobs,
    ) -> list[Planned]:
        """Validate, plan and check every job, writing nothing; raises SubmitError.

        ``new_batches`` are batch ids the caller creates before it enqueues (batch code): their
        jobs are not refused for naming a batch that does not exist yet.
        """
        planned: list[Planned] = []
        # Only an id that came from outside this call can be held already; one made here (a
        # uuid4) cannot, and skipping its check saves a tenth of a batch's enqueue time. The
        # write itself checks every id again, in the script that writes it.
        maybe_held: list[int] = []
        seen: set[str] = set()
        states: dict[str, LiveState] = {}  # read once per tenant in this submit
        for index, item in enumerate(jobs):
            label = where(index)
            job = item if isinstance(item, CompletionJob) else self.parse_job(item, where=label)
            if job.id in seen:
                raise SubmitError(
                    f"{dotted(label)}envelope.id: {job.id!r} appears twice in this submit"
                )
            seen.add(job.id)
            if item is job or "id" in job.envelope.model_fields_set:
                maybe_held.append(index)
            tenant = job.envelope.tenant
            if tenant not in states:
                states[tenant] = self.live.read(tenant)
            planned.append(Planned(job, self._route(job, label, states[tenant]), label))
        self._check_ids(planned, maybe_held)
        self._check_batches(planned, new_batches)
        return planned

    def _check_ids(self, planned: Sequence[Planned], indexes: Sequence[int]) -> None:
        owners = self.writer.owners([planned[i].job.id for i in indexes]) if indexes else []
        for index, owner in zip(indexes, owners, strict=True):
            if owner is not None and owner != planned[index].job.envelope.tenant:
                raise taken(planned[index])

    def _check_batches(self, planned: Sequence[Planned], new_batches: frozenset[str]) -> None:
        owners: dict[str, str | None] = {}
        for item in planned:
            batch_id = item.job.envelope.batch_id
            if batch_id is None or batch_id in new_batches:
                continue
            if batch_id not in owners:
                owners[batch_id] = self.writer.batch_owner(batch_id)
            if owners[batch_id] != item.job.envelope.tenant:
                raise foreign_batch(item)

    def enqueue(
        self, planned: Sequence[Planned], *, completion_window: timedelta | None = None
    ) -> None:
        """Write each job's record and its scheduler entry, a chunk per script (``JobWriter``).

        A Redis error part-way leaves whole chunks written and queued, never a record without
        its entry; the same jobs enqueued again write only what is missing. With offloading on
        (``CASCADE_OFFLOAD_ENABLED``), a job the offload decision lets wait is written to its
        provider's parking queue instead (``broker/offload/``), and the decision's reason goes
        on its record; ``completion_window`` is its batch's. A job not offloaded whose first
        target has price windows may be held until a cheaper one opens (``routing/offpeak.py``,
        ``CASCADE_OFFPEAK_*``), with that decision on its record too.
        """
        # no decision at all where no provider of the catalog can take offloaded work
        rules = offload_rules(self.settings) if self._offloading else None
        windows = wait_rules(self.settings, self.catalog)
        now = datetime.now(UTC)
        for start in range(0, len(planned), PUBLISH_BATCH):
            chunk = planned[start : start + PUBLISH_BATCH]
            placements = [
                place(
                    item.job,
                    item.route[0],
                    self.catalog,
                    rules,
                    now=now,
                    completion_window=completion_window,
                    windows=windows,
                )
                for item in chunk
            ]
            try:
                written = self.writer.write(
                    [
                        self._new_job(item, where)
                        for item, where in zip(chunk, placements, strict=True)
                    ]
                )
            except ForeignBatch as exc:
                raise foreign_batch(chunk[exc.index]) from exc
            except IdTaken as exc:
                raise taken(chunk[exc.index]) from exc
            self._note_decisions(chunk, placements, written, completion_window is not None)

    def _note_decisions(
        self,
        chunk: Sequence[Planned],
        placements: Sequence[Placement],
        written: Sequence[Written],
        windowed: bool,
    ) -> None:
        """The offload and price-window decisions on each new record (``offload``, ``offpeak``
        and ``not_before`` fields), for the job's status and the poller; informational, so
        written after the record in one pipeline. Only an offload decision that weighed
        something is noted: a job offloaded, or one with a deadline or window that was not; a
        job a caller waits for on a batch-capable model is left as it was (no write on the
        common path)."""
        pipe = self.redis.pipeline(transaction=False)
        noted = 0
        for item, where, outcome in zip(chunk, placements, written, strict=True):
            if outcome != Written.WRITTEN:
                continue
            fields: dict[str, str] = {}
            weighed = where.parked or where.deadline is not None or windowed
            if where.decision is not None and weighed:
                fields["offload"] = where.decision.reason
            if where.offpeak is not None:
                fields["offpeak"] = where.offpeak.reason
            if where.offpeak is not None and where.offpeak.until is not None:
                fields["not_before"] = where.offpeak.until.isoformat(timespec="seconds")
            if fields:
                pairs = [part for pair in fields.items() for part in pair]
                pipe.hset(self.keys.job(item.job.id), items=pairs)
                noted += 1
        if noted:
            pipe.execute()

    def _new_job(self, item: Planned, where: Placement) -> NewJob:
        job, first = item.job, item.route[0]
        return NewJob(
            job_id=job.id,
            tenant=job.envelope.tenant,
            batch_id=job.envelope.batch_id,
            job_json=job.model_dump_json(),
            route_json=_TARGETS.dump_json(item.route).decode(),
            queue=where.queue,
            message=first_hop_message(self.catalog, job.id, first, self._reply_to),
            priority=job.envelope.priority.value,
            deadline=where.deadline,
            not_before=where.not_before,
            direct=not where.parked,
        )

    def _route(
        self, job: CompletionJob, where: str, state: LiveState | None = None
    ) -> list[TargetRef]:
        try:
            return list(plan(job, self.catalog, state).targets)
        except NoRoute as exc:
            raise SubmitError(f"{dotted(where)}{exc.field}: {exc}") from exc


def _prefixed(text: str, where: str) -> str:
    if not where:
        return text
    return "\n".join(f"{where}.{line}" for line in text.splitlines())
