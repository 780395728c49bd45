"""Health: is this machine's worker for a provider answering (for container health checks), and
how is each target doing (``cascade health``: circuits, error rates, latency, refused keys)?"""

from __future__ import annotations

import socket
from collections.abc import Mapping
from dataclasses import dataclass

import redis

from broker.celery_app import create_celery
from broker.keys import Keys
from broker.settings import Settings
from routing.catalog import Catalog
from routing.circuit import CircuitStatus, key_target, model_target
from routing.circuit_store import CircuitBreakers
from routing.key_pool import KeyPool, TakenOut, key_ids

__all__ = ["ProviderHealth", "ping_worker", "provider_health", "worker_name"]


@dataclass(frozen=True, slots=True)
class ProviderHealth:
    provider: str
    models: dict[str, CircuitStatus]  # catalog model name -> its circuit
    keys: dict[str, CircuitStatus]  # key id (a variable's name) -> its circuit
    taken_out: dict[str, TakenOut]  # key id -> why and when it left the rotation


def provider_health(
    client: redis.Redis, keys: Keys, catalog: Catalog, environ: Mapping[str, str]
) -> list[ProviderHealth]:
    """Every provider's circuits and refused keys, as every worker shares them in Redis."""
    found = []
    for name, provider in catalog.providers.items():
        breakers = CircuitBreakers(client, keys, provider.circuit)
        models = [model.name for model in catalog.models if model.provider == name]
        ids = key_ids(
            provider.key_env_names, environ, placeholder=provider.placeholder_key is not None
        )
        model_status = breakers.snapshot([model_target(name, model) for model in models])
        key_status = breakers.snapshot([key_target(name, key) for key in ids])
        found.append(
            ProviderHealth(
                provider=name,
                models={model: model_status[model_target(name, model)] for model in models},
                keys={key: key_status[key_target(name, key)] for key in ids},
                taken_out=KeyPool(client, keys, name, ids).taken_out(),
            )
        )
    return found


def worker_name(provider: str, host: str | None = None) -> str:
    """The node name ``cascade worker --provider P`` takes: ``P@<host name>``."""
    return f"{provider}@{host or socket.gethostname()}"


def ping_worker(settings: Settings, provider: str, *, timeout_s: float = 3.0) -> bool:
    """Whether the provider's worker on this host answers a control ping through the broker:
    proof that it is connected and its consumer loop runs, not only that its process exists."""
    app = create_celery(settings)
    try:
        name = worker_name(provider)
        replies = app.control.ping(destination=[name], timeout=timeout_s)
        return any(name in reply for reply in replies or [])
    finally:
        app.close()
