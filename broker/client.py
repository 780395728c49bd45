"""The producer API: submit jobs, read their status and results, wait for them.

    client = CascadeClient.from_env()
    job_id = client.submit({"messages": [{"role": "user", "content": "Hi"}]}, tier="standard")
    result = client.wait(job_id, timeout=30)

A job is validated and its route planned before anything is written, so bad input is refused
with the path of the bad field and nothing is enqueued. ``submit_many`` writes every job record
and its Celery message in one pipeline per thousand jobs: the messages are built here, as
Celery would build them, and pushed after the records in the same round trip.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import redis
from celery import Celery
from pydantic import ValidationError

from broker.catalog_file import load_catalog
from broker.celery_app import create_celery, task_argsrepr, task_name
from broker.jobs import (
    CompletionJob,
    CompletionResult,
    FailedResult,
    JobStatus,
    TargetRef,
    format_validation_error,
)
from broker.keys import Keys
from broker.settings import Settings
from broker.store import JobStore
from routing.catalog import Catalog
from routing.circuit import CircuitPolicy
from routing.circuit_store import CircuitBreakers
from routing.latency import LatencyBook
from routing.live_state import LiveStateReader
from routing.planner import LiveState, NoRoute, plan
from routing.spend import SpendLedger

__all__ = ["CascadeClient", "JobTimeout", "SubmitError", "UnknownJob", "task_message"]

_PUBLISH_BATCH = 1000


class SubmitError(ValueError):
    """A job was refused at submit; the message names each bad field. Nothing was enqueued."""


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
        self.celery = celery_app or create_celery(settings)
        self._reply_to = str(uuid.uuid4())
        self.live = LiveStateReader(
            catalog,
            CircuitBreakers(self.redis, self.keys, CircuitPolicy()),
            SpendLedger(self.redis, self.keys, catalog),
            LatencyBook(self.redis, self.keys),
            max_age_s=settings.live_state_max_age_s,
        )

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
            )
        return self.submit_many([job])[0]

    def submit_many(self, jobs: Iterable[CompletionJob | Mapping[str, Any]]) -> list[str]:
        """Validate and plan every job, then enqueue them all; returns their ids in order.

        One bad job refuses the whole lot: the error names its index and field, and nothing is
        written. A job whose id is already stored is not enqueued again (its id is returned),
        so that a submit retried after a lost answer never runs a job twice.
        """
        planned: list[tuple[CompletionJob, list[TargetRef]]] = []
        # Only an id that came from outside this call can be stored already; one made here
        # (a uuid4) cannot, and skipping its check saves a tenth of a batch's enqueue time.
        maybe_stored: list[str] = []
        seen: set[str] = set()
        states: dict[str, LiveState] = {}  # read once per tenant in this submit
        for index, item in enumerate(jobs):
            where = f"jobs[{index}]"
            job = item if isinstance(item, CompletionJob) else self.parse_job(item, where=where)
            if job.id in seen:
                raise SubmitError(f"{where}.envelope.id: {job.id!r} appears twice in this submit")
            seen.add(job.id)
            if item is job or "id" in job.envelope.model_fields_set:
                maybe_stored.append(job.id)
            tenant = job.envelope.tenant
            if tenant not in states:
                states[tenant] = self.live.read(tenant)
            planned.append((job, self._route(job, where, states[tenant])))
        existing = set(self.store.exists(maybe_stored)) if maybe_stored else set()
        fresh = [(job, route) for job, route in planned if job.id not in existing]
        self._enqueue(fresh)
        return [job.id for job, _ in planned]

    def _route(
        self, job: CompletionJob, where: str, state: LiveState | None = None
    ) -> list[TargetRef]:
        try:
            return list(plan(job, self.catalog, state).targets)
        except NoRoute as exc:
            prefix = f"{where}." if where else ""
            raise SubmitError(f"{prefix}{exc.field}: {exc}") from exc

    def _enqueue(self, jobs: Sequence[tuple[CompletionJob, list[TargetRef]]]) -> None:
        # One pipeline per chunk holds the chunk's records and then its messages: Redis runs a
        # pipeline's commands in order, so a worker that takes a message always finds its job.
        for start in range(0, len(jobs), _PUBLISH_BATCH):
            chunk = jobs[start : start + _PUBLISH_BATCH]
            pipe = self.redis.pipeline(transaction=False)
            for job, route in chunk:
                self.store.add_to_pipeline(pipe, job, route)
            self._push_messages(pipe, [(job.id, route[0]) for job, route in chunk])
            pipe.execute()

    def _publish_first_hops(self, firsts: Sequence[tuple[str, TargetRef]]) -> None:
        for start in range(0, len(firsts), _PUBLISH_BATCH):
            pipe = self.redis.pipeline(transaction=False)
            self._push_messages(pipe, firsts[start : start + _PUBLISH_BATCH])
            pipe.execute()

    def _push_messages(
        self, pipe: redis.client.Pipeline, firsts: Sequence[tuple[str, TargetRef]]
    ) -> None:
        """One LPUSH per queue of the Celery messages for hop 0: what ``send_task`` would push
        (see ``task_message``), without its per-message cost."""
        by_queue: dict[str, list[bytes]] = {}
        for job_id, target in firsts:
            wire_format = self.catalog.provider(target.provider).wire_format
            by_queue.setdefault(target.queue, []).append(
                task_message(
                    task_name(target.provider, wire_format),
                    job_id,
                    0,
                    queue=target.queue,
                    argsrepr=task_argsrepr(job_id, 0, tier=target.tier, model=target.model),
                    reply_to=self._reply_to,
                )
            )
        for queue, messages in by_queue.items():
            pipe.lpush(queue, *messages)

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


# Celery's protocol 2 (docs.celeryq.dev, "Message Protocol"): [args, kwargs, embed] in the
# body; headers name the task; kombu's Redis transport wraps it in this JSON envelope.
_EMBED = {"callbacks": None, "errbacks": None, "chain": None, "chord": None}
_ORIGIN = f"gen{os.getpid()}@{socket.gethostname()}"


def task_message(
    task: str, job_id: str, hop: int, *, queue: str, argsrepr: str, reply_to: str
) -> bytes:
    """The message ``celery.send_task(task, args=[job_id, hop], task_id=job_id, queue=queue,
    argsrepr=argsrepr)`` puts on a Redis queue, built directly: same headers, same body."""
    body = json.dumps([[job_id, hop], {}, _EMBED]).encode()
    envelope = {
        "body": base64.b64encode(body).decode(),
        "content-encoding": "utf-8",
        "content-type": "application/json",
        "headers": {
            "lang": "py",
            "task": task,
            "id": job_id,
            "shadow": None,
            "eta": None,
            "expires": None,
            "group": None,
            "group_index": None,
            "retries": 0,
            "timelimit": [None, None],
            "root_id": job_id,
            "parent_id": None,
            "argsrepr": argsrepr,
            "kwargsrepr": "{}",
            "origin": _ORIGIN,
            "ignore_result": None,
            "replaced_task_nesting": 0,
            "stamped_headers": None,
            "stamps": {},
        },
        "properties": {
            "correlation_id": job_id,
            "reply_to": reply_to,
            "argsrepr": argsrepr,
            "delivery_mode": 2,
            "delivery_info": {"exchange": "", "routing_key": queue},
            "priority": 0,
            "body_encoding": "base64",
            "delivery_tag": str(uuid.uuid4()),
        },
    }
    return json.dumps(envelope).encode()


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
