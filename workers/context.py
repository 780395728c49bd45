"""What one worker process holds for its whole life: settings, catalog, job store, HTTP clients.

Built once per process on first use, so that a worker's threads share one Redis connection pool
and one HTTP connection pool per provider instead of opening their own per call.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import httpx
import redis

from broker.catalog_file import load_catalog
from broker.keys import Keys
from broker.settings import Settings
from broker.store import JobStore
from routing.catalog import Catalog, ProviderConfig
from routing.latency import LatencyBook
from routing.spend import SpendLedger
from workers.admission import Gatekeeper

__all__ = ["WorkerContext", "http_client_for"]


def http_client_for(provider: ProviderConfig) -> httpx.Client:
    """A client whose timeouts and pool bound every call to this provider (threads pools enforce
    no task time limits, so these are what keep a hung call from holding a slot)."""
    timeouts = provider.timeouts
    return httpx.Client(
        timeout=httpx.Timeout(
            connect=timeouts.connect, read=timeouts.read, write=timeouts.write, pool=timeouts.pool
        ),
        limits=httpx.Limits(
            max_connections=provider.concurrency,
            max_keepalive_connections=provider.concurrency,
        ),
        follow_redirects=False,
    )


@dataclass
class WorkerContext:
    settings: Settings
    catalog: Catalog
    store: JobStore
    gatekeeper: Gatekeeper
    ledger: SpendLedger
    latency: LatencyBook
    _clients: dict[str, httpx.Client] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def from_settings(cls, settings: Settings) -> WorkerContext:
        catalog = load_catalog(
            settings.config, settings.profile, emulator_url=settings.emulator_url
        )
        client = redis.Redis.from_url(settings.redis_url, health_check_interval=25)
        keys = Keys(settings.key_prefix)
        store = JobStore(client, keys, settings.result_ttl_s)
        return cls(
            settings,
            catalog,
            store,
            Gatekeeper(client, keys, catalog),
            SpendLedger(client, keys, catalog),
            LatencyBook(client, keys),
        )

    def http(self, provider: str) -> httpx.Client:
        with self._lock:
            if provider not in self._clients:
                self._clients[provider] = http_client_for(self.catalog.provider(provider))
            return self._clients[provider]

    def close(self) -> None:
        with self._lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()
