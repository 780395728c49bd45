"""The producer API: submit jobs, read their status and results, wait for them.

    client = CascadeClient.from_env()
    job_id = client.submit({"messages": [{"role": "user", "content": "Hi"}]}, tier="standard")
    result = client.wait(job_id, timeout=30)

``CascadeClient`` is built here, with the dead-letter replay and the pipeline entry point; its
submit path (validate, plan, check, enqueue, the offload and price-window notes) is
``broker/client_submit.py`` and its reads and waits are ``broker/client_reads.py``. Every
name a caller imports from ``broker.client`` stays importable from here.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import redis
from celery import Celery

from broker.catalog_file import load_catalog, load_pipelines
from broker.celery_app import create_celery
from broker.client_reads import JobTimeout, ReadMixin, UnknownJob
from broker.client_submit import PUBLISH_BATCH, SubmitMixin
from broker.job_writes import JobWriter
from broker.jobs import FailedResult, TargetRef
from broker.keys import Keys, celery_queue_bell
from broker.offload.choice import offloading_providers
from broker.redis_clients import redis_client as sized_redis_client
from broker.settings import Settings
from broker.store import JobStore
from broker.submit_errors import IdConflict, Planned, SubmitError
from broker.task_messages import first_hop_message, task_message
from routing.catalog import Catalog
from routing.circuit import CircuitPolicy
from routing.circuit_store import CircuitBreakers
from routing.latency import LatencyBook
from routing.live_state import LiveStateReader
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


class CascadeClient(SubmitMixin, ReadMixin):
    def __init__(
        self,
        settings: Settings,
        catalog: Catalog,
        redis_client: redis.Redis | None = None,
        celery_app: Celery | None = None,
    ) -> None:
        self.settings = settings
        self.catalog = catalog
        self.redis = redis_client or sized_redis_client(settings)
        self.keys = Keys(settings.key_prefix)
        self.store = JobStore(self.redis, self.keys, settings.result_ttl_s)
        self.writer = JobWriter(
            self.redis,
            self.keys,
            settings.result_ttl_s,
            settings.dispatch_depth,
            settings.dispatch_direct,
        )
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

    def _publish_first_hops(self, firsts: Sequence[tuple[str, TargetRef]]) -> None:
        for start in range(0, len(firsts), PUBLISH_BATCH):
            by_queue: dict[str, list[bytes]] = {}
            for job_id, target in firsts[start : start + PUBLISH_BATCH]:
                message = first_hop_message(self.catalog, job_id, target, self._reply_to)
                by_queue.setdefault(target.queue, []).append(message)
            pipe = self.redis.pipeline(transaction=False)
            for queue, messages in by_queue.items():
                pipe.lpush(queue, *messages)
                pipe.lpush(celery_queue_bell(queue), *[1] * len(messages))
            pipe.execute()
