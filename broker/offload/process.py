"""Building and running an offload poller from the settings and the catalog."""

from __future__ import annotations

import signal
import threading
from collections.abc import Sequence
from types import FrameType

import httpx
import redis

from broker.keys import Keys
from broker.logs import configure_logging
from broker.offload.choice import offloading_providers
from broker.offload.lines import LineActions
from broker.offload.poller import OffloadPoller
from broker.offload.state import OffloadState
from broker.redis_clients import redis_client
from broker.settings import Settings
from broker.store import JobStore
from routing.catalog import Catalog
from routing.spend import SpendLedger

__all__ = ["build_poller", "run_poller", "start_poller_thread"]


def build_poller(
    settings: Settings, catalog: Catalog, client: redis.Redis, http: httpx.Client,
    providers: Sequence[str] = (),
) -> OffloadPoller:
    """A poller for ``providers`` (every provider with a batch mode when none is named)."""
    keys = Keys(settings.key_prefix)
    actions = LineActions(
        OffloadState(client, keys),
        JobStore(client, keys, settings.result_ttl_s),
        SpendLedger(client, keys, catalog),
        catalog,
    )
    return OffloadPoller(
        actions, catalog, http, providers=list(providers) or list(catalog.providers),
        lease_s=settings.offload_lease_s, status_s=settings.offload_status_s,
    )


def run_poller(settings: Settings, catalog: Catalog, providers: Sequence[str]) -> None:
    """Poll until SIGTERM or SIGINT; a pass under way finishes first."""
    configure_logging()
    stop = threading.Event()
    client = redis_client(settings)
    with httpx.Client(timeout=30) as http:
        poller = build_poller(settings, catalog, client, http, providers)

        def _stop(_signum: int, _frame: FrameType | None) -> None:
            stop.set()
            poller.woken.set()

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        poller.run(stop, settings.offload_poll_s)
    client.close()


def start_poller_thread(
    settings: Settings, catalog: Catalog, providers: Sequence[str]
) -> threading.Thread | None:
    """A poller for ``providers`` in a daemon thread of this process (``cascade worker`` with
    offloading on): it lives as long as the worker; its leases let any number run. None, and
    nothing started, when none of them can take offloaded jobs."""
    chosen = offloading_providers(catalog, providers)
    if not chosen:
        return None
    client = redis_client(settings)
    http = httpx.Client(timeout=30)
    poller = build_poller(settings, catalog, client, http, chosen)
    thread = threading.Thread(
        target=poller.run, args=(threading.Event(), settings.offload_poll_s), name="offload",
        daemon=True,
    )
    thread.start()
    return thread
