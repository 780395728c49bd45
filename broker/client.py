"""The producer API: submit jobs, read their status and results, wait for them.

    client = CascadeClient.from_env()
    job_id = client.submit({"messages": [{"role": "user", "content": "Hi"}]}, tier="standard")
    result = client.wait(job_id, timeout=30)

A job is validated and its route planned before anything is written, so bad input is refused
with the path of the bad field and nothing is enqueued. ``submit_many`` writes each job's record
and its Celery message in one script per thousand jobs (``broker/job_writes.py``), which also
refuses an id that another tenant holds: the messages are built here, as Celery would build them
(``broker/task_messages.py``).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import redis
from celery import Celery
from pydantic import TypeAdapter, ValidationError

from broker.catalog_file import load_catalog, load_pipelines
from broker.celery_app import create_celery
from broker.job_streams import client_chunks
from broker.job_writes import ForeignBatch, IdTaken, JobWriter, NewJob, Written
from broker.jobs import (
    CompletionJob,
    CompletionResult,
    FailedResult,
    JobStatus,
    TargetRef,
    format_validation_error,
)
from broker.keys import Keys
from broker.offload.choice import (
    OffloadRules,
    Placement,
    offloading_providers,
    place,
    wait_rules,
)
from broker.settings import Settings
from broker.store import JobStore
from broker.submit_errors import (
    IdConflict,
    Planned,
    SubmitError,
    dotted,
    foreign_batch,
    in_jobs,
    taken,
    unlabelled,
)
from broker.task_messages import first_hop_message, task_message
from routing.catalog import Catalog
from routing.circuit import CircuitPolicy
from routing.circuit_store import CircuitBreakers
from routing.latency import LatencyBook
from routing.live_state import LiveStateReader
from routing.planner import LiveState, NoRoute, plan
from routing.spend import SpendLedger

__all__ = [
    "CascadeClient",
    "IdConflict",
    "JobTimeout",
    "Planned",
    "SubmitError",
    "UnknownJob",
    "task_message",
]

_PUBLISH_BATCH = 1000
_TARGETS = TypeAdapter(list[TargetRef])


class UnknownJob(LookupError):
    """No job with this id exists (never submitted, or its records expired)."""


class JobTimeout(TimeoutError):
    """The job did not finish within the time the caller was willing to wait."""


class CascadeClient:
    def __init__(
        self,
        settings: Settings,
        catalog: Catalog,
        redis_client: redis.Redis | None = None,
        celery_app: Celery | None = None,
    ) -> None:
        self.settings = settings
        self.catalog = catalog
        self.redis = redis_client or redis.Redis.from_url(settings.redis_url)
        self.keys = Keys(settings.key_prefix)
        self.store = JobStore(self.redis, self.keys, settings.result_ttl_s)
        self.writer = JobWriter(self.redis, self.keys, settings.result_ttl_s)
        self.celery = celery_app or create_celery(settings)
        self._reply_to = str(uuid.uuid4())
        self.live = LiveStateReader(
            catalog,
            CircuitBreakers(self.redis, self.keys, CircuitPolicy()),
            SpendLedger(self.redis, self.keys, catalog),
            LatencyBook(self.redis, self.keys),
            max_age_s=settings.live_state_max_age_s,
        )
        # No provider takes offloaded jobs: the submit makes no offload decision at all.
        self._offloading = bool(offloading_providers(catalog, list(catalog.providers)))

    @classmethod
    def from_env(cls) -> CascadeClient:
        settings = Settings()
        return cls(
            settings,
            load_catalog(settings.config, settings.profile, emulator_url=settings.emulator_url),
        )

    def close(self) -> None:
        self.redis.close()
        self.celery.close()

    # --- submit --------------------------------------------------------------------------

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
        rules, windows = self._offload_rules(), wait_rules(self.settings, self.catalog)
        now = datetime.now(UTC)
        for start in range(0, len(planned), _PUBLISH_BATCH):
            chunk = planned[start : start + _PUBLISH_BATCH]
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

    def _offload_rules(self) -> OffloadRules | None:
        if not self.settings.offload_enabled or not self._offloading:
            return None
        return OffloadRules(
            margin=timedelta(seconds=self.settings.offload_margin_s),
            min_wait=timedelta(seconds=self.settings.offload_min_wait_s),
        )

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
        )

    def _route(
        self, job: CompletionJob, where: str, state: LiveState | None = None
    ) -> list[TargetRef]:
        try:
            return list(plan(job, self.catalog, state).targets)
        except NoRoute as exc:
            raise SubmitError(f"{dotted(where)}{exc.field}: {exc}") from exc

    def _publish_first_hops(self, firsts: Sequence[tuple[str, TargetRef]]) -> None:
        for start in range(0, len(firsts), _PUBLISH_BATCH):
            by_queue: dict[str, list[bytes]] = {}
            for job_id, target in firsts[start : start + _PUBLISH_BATCH]:
                message = first_hop_message(self.catalog, job_id, target, self._reply_to)
                by_queue.setdefault(target.queue, []).append(message)
            pipe = self.redis.pipeline(transaction=False)
            for queue, messages in by_queue.items():
                pipe.lpush(queue, *messages)
            pipe.execute()

    def submit_pipeline(
        self, pipeline: Any, data: Mapping[str, Any] | None = None, **options: Any
    ) -> str:
        """Check, store and start a pipeline (a definition, or a name in the catalog file's
        ``pipelines:``); returns its id. Options: ``broker.pipelines.facade.Pipelines.submit``."""
        from broker.pipelines.facade import Pipelines  # it builds on this module

        named = load_pipelines(self.settings.config) if isinstance(pipeline, str) else {}
        return Pipelines(self, named).submit(pipeline, data, **options)

    # --- dead letters --------------------------------------------------------------------

    def dead_letters(self, limit: int = 100) -> list[FailedResult]:
        """The newest jobs that ended failed, with every attempt they made."""
        ids = [job_id for job_id, _ in self.store.dead_letters(limit)]
        found = self.store.results(ids)
        return [item for job_id in ids if isinstance(item := found.get(job_id), FailedResult)]

    def replay(self, job_id: str) -> bool:
        """Run a failed job again under the same id, on a route planned afresh.

        Its earlier attempts stay in its record, and its final result will list them too.
        False when the job is not failed (it succeeded, or runs again already).
        """
        stored = self.store.load(job_id)
        if stored is None:
            raise UnknownJob(job_id)
        route = self._route(stored.job, "", self.live.read(stored.job.envelope.tenant))
        if self.store.reopen(job_id, route) is None:
            return False
        self._publish_first_hops([(job_id, route[0])])
        return True

    # --- read ----------------------------------------------------------------------------

    def status(self, job_id: str) -> JobStatus:
        found = self.store.status(job_id)
        if found is None:
            raise UnknownJob(job_id)
        return found

    def get(self, job_id: str) -> CompletionResult | FailedResult | None:
        """The final result, or None while the job is still queued or running."""
        result = self.store.result(job_id)
        if result is None and self.store.status(job_id) is None:
            raise UnknownJob(job_id)
        return result

    def wait(self, job_id: str, timeout: float) -> CompletionResult | FailedResult:
        """Block until the job ends, at most ``timeout`` seconds; raises JobTimeout."""
        found = self.wait_many([job_id], timeout)
        if job_id not in found:
            raise JobTimeout(f"job {job_id} did not finish within {timeout:g}s")
        return found[job_id]

    def stream(
        self, job_id: str, *, after: str = "0-0", timeout: float = 600.0
    ) -> Iterator[dict[str, Any]]:
        """A streamed job's chat.completion.chunk dicts as they come (``broker/job_streams.py``:
        ``cascade.reset`` markers, resuming ``after`` an entry id); raises StreamFailed."""
        if self.store.status(job_id) is None:
            raise UnknownJob(job_id)
        return client_chunks(self.redis, self.store, job_id, after=after, timeout=timeout)

    def stream_pipeline(
        self, pipeline_id: str, *, after: str = "", timeout: float = 600.0
    ) -> Iterator[dict[str, Any]]:
        """A streamed pipeline's answer as chat.completion.chunk dicts: its output step's rounds
        (``broker/pipelines/streaming.py``: a ``cascade.reset`` where a round was sent back,
        resuming ``after`` a ``cascade_event_id``); raises PipelineStreamFailed."""
        from broker.pipelines.state import PipelineStore  # they build on this module
        from broker.pipelines.streaming import parse_cursor, pipeline_chunks

        parse_cursor(after)  # a bad cursor is refused here, not at the first next()
        pipelines = PipelineStore(self.redis, self.keys, self.settings.result_ttl_s)
        if pipelines.load(pipeline_id) is None:
            raise UnknownJob(pipeline_id)
        return pipeline_chunks(pipelines, self.store, pipeline_id, after=after, timeout=timeout)

    def wait_many(
        self, job_ids: Sequence[str], timeout: float
    ) -> dict[str, CompletionResult | FailedResult]:
        """The results of the jobs that ended within ``timeout`` seconds.

        Subscribes to completion events first, then reads the results already stored, so no end
        is missed between the two; then reads only the jobs that the events name. A periodic
        re-read covers events lost with a dropped connection, and a Redis that restarts (its
        results kept in its append-only file) is waited for, not reported as an error.
        """
        pending = set(job_ids)
        if unknown := sorted(pending - set(self.store.exists(job_ids))):
            raise UnknownJob(", ".join(unknown[:5]))
        done: dict[str, CompletionResult | FailedResult] = {}
        deadline = time.monotonic() + timeout
        while pending and time.monotonic() < deadline:
            try:
                self._wait_round(pending, done, deadline)
            except (redis.ConnectionError, redis.TimeoutError):
                time.sleep(max(0.0, min(0.5, deadline - time.monotonic())))
        return done

    def _wait_round(
        self,
        pending: set[str],
        done: dict[str, CompletionResult | FailedResult],
        deadline: float,
    ) -> None:
        pubsub = self.redis.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
        try:
            pubsub.subscribe(self.keys.events_channel())
            done.update(self.store.results(list(pending)))
            pending.difference_update(done)
            next_sweep = time.monotonic() + 1.0
            while pending and (left := deadline - time.monotonic()) > 0:
                ended = _ended_job(pubsub.get_message(timeout=min(left, 0.5)))
                if ended in pending:
                    done.update(self.store.results([ended]))
                if time.monotonic() >= next_sweep:
                    done.update(self.store.results(list(pending)))
                    next_sweep = time.monotonic() + 1.0
                pending.difference_update(done)
        finally:
            pubsub.close()


def _ended_job(message: Mapping[str, Any] | None) -> str | None:
    if message is None or message.get("type") != "message":
        return None
    event = json.loads(message["data"])
    if event.get("status") in (JobStatus.SUCCEEDED.value, JobStatus.FAILED.value):
        return str(event["job_id"])
    return None


def _prefixed(text: str, where: str) -> str:
    if not where:
        return text
    return "\n".join(f"{where}.{line}" for line in text.splitlines())
