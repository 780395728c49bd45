"""Health checks for containers: is this machine's worker for a provider answering?"""

from __future__ import annotations

import socket

from broker.celery_app import create_celery
from broker.settings import Settings

__all__ = ["ping_worker", "worker_name"]


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
