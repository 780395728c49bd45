"""A worker's context in the test process, for running ``JobRunner`` against a real Redis and the
emulator over HTTP, and a job put in the store as the producer would."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

from broker.catalog_file import load_catalog
from broker.jobs import CompletionJob
from broker.keys import Keys
from broker.settings import Settings
from broker.store import JobStore
from routing.catalog import Catalog
from routing.latency import LatencyBook
from routing.planner import plan
from routing.spend import SpendLedger
from workers.admission import Gatekeeper
from workers.context import WorkerContext

__all__ = ["CATALOG", "InProcessWorker"]

CATALOG = str(Path(__file__).parents[1] / "fixtures" / "catalog.yaml")


@dataclass
class InProcessWorker:
    """The test catalog's worker context on ``redis_url``, its providers on the emulator."""

    client: redis.Redis
    keys: Keys
    catalog: Catalog
    store: JobStore
    context: WorkerContext

    @classmethod
    def open(cls, redis_url: str, emulator_url: str) -> InProcessWorker:
        client = redis.Redis.from_url(redis_url)
        settings = Settings(redis_url=redis_url, config=CATALOG)
        catalog = load_catalog(CATALOG).with_emulator(emulator_url)
        keys = Keys(settings.key_prefix)
        store = JobStore(client, keys, settings.result_ttl_s)
        context = WorkerContext(
            settings, catalog, store, Gatekeeper(client, keys, catalog),
            SpendLedger(client, keys, catalog), LatencyBook(client, keys),
        )  # fmt: skip
        return cls(client, keys, catalog, store, context)

    def submit(self, job: dict[str, Any]) -> CompletionJob:
        """``job`` validated, planned and written to the store (its message is not sent)."""
        parsed = CompletionJob.model_validate(job)
        pipe = self.client.pipeline()
        self.store.add_to_pipeline(pipe, parsed, list(plan(parsed, self.catalog).targets))
        pipe.execute()
        return parsed

    def close(self) -> None:
        self.context.close()
        self.client.close()
