"""What one worker process holds for its whole life: settings, catalog, job store, HTTP clients.

Built once per process on first use, so that a worker's threads share one Redis connection pool
and a few HTTP connection pools per provider instead of opening their own per call.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx

from broker.catalog_file import load_catalog
from broker.job_streams import JobStreamWriter
from broker.keys import Keys
from broker.redis_clients import redis_client
from broker.settings import Settings
from broker.store import JobStore
from routing.catalog import Catalog
from routing.latency import LatencyBook
from routing.spend import SpendLedger
from routing.window_savings import WindowSavings
from workers.admission import Gatekeeper
from workers.deadlines import ExpectedLatency
from workers.http_clients import http_clients_for
from workers.message_acks import MessageAcks

__all__ = ["WorkerContext"]


@dataclass
class WorkerContext:
    settings: Settings
    catalog: Catalog
    store: JobStore
    gatekeeper: Gatekeeper
    ledger: SpendLedger
    latency: LatencyBook
    expected: ExpectedLatency | None = None  # None: only a passed deadline ends a job early
    savings: WindowSavings | None = None  # None: what price windows saved is not counted
    acks: MessageAcks | None = None  # None: a success leaves its message to Celery's own ack
    _clients: dict[str, list[httpx.Client]] = field(default_factory=dict)
    _turns: dict[str, Iterator[httpx.Client]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def from_settings(cls, settings: Settings) -> WorkerContext:
        catalog = load_catalog(
            settings.config, settings.profile, emulator_url=settings.emulator_url
        )
        client = redis_client(settings, health_check_interval=25)
        keys = Keys(settings.key_prefix)
        store = JobStore(
            client, keys, settings.result_ttl_s, dead_letters_max=settings.dead_letters_max
        )
        latency = LatencyBook(client, keys)
        return cls(
            settings,
            catalog,
            store,
            Gatekeeper(client, keys, catalog),
            SpendLedger(client, keys, catalog),
            latency,
            ExpectedLatency(latency, settings.live_state_max_age_s),
            WindowSavings(client, keys),
            MessageAcks(client),
        )

    def stream_writer(self, job_id: str) -> JobStreamWriter:
        """The writer of a streamed job's Redis stream, with the result's TTL."""
        settings = self.settings
        return JobStreamWriter(
            self.store.client,
            self.store.keys,
            job_id,
            settings.result_ttl_s,
            settings.stream_maxlen,
        )

    def http(self, provider: str) -> httpx.Client:
        """One of the provider's clients, in turn."""
        with self._lock:
            if provider not in self._clients:
                clients = http_clients_for(self.catalog.provider(provider))
                self._clients[provider] = clients
                self._turns[provider] = itertools.cycle(clients)
            return next(self._turns[provider])

    def close(self) -> None:
        with self._lock:
            for clients in self._clients.values():
                for client in clients:
                    client.close()
            self._clients.clear()
            self._turns.clear()
