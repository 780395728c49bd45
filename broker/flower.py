"""How cascade shows in Flower, and ``cascade flower``: Flower on cascade's broker.

Flower lists tasks by name and arguments, so the names say what runs
(``cascade.execute.<provider>.<wire_format>``) and the argument summary carries the job id, hop,
tier and model: a task's real arguments are only ``[job_id, hop]``, and nothing of the request
ever reaches a message, so no prompt or key can show there.

Flower runs inside a Celery app that declares every ``<tier>.<provider>`` queue of the catalog,
so its broker page and ``/api/queues/length`` list them even while no worker consumes one.
Basic auth comes from ``CASCADE_FLOWER_BASIC_AUTH`` (``user:password``, comma-separated for
several) and is handed to Flower through its environment, never on a command line that ``ps``
shows. Flower's ``/metrics`` is served without authentication: keep its port off public networks.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping, Sequence

from kombu import Queue

from broker.celery_app import create_celery
from broker.settings import Settings

__all__ = [
    "BASIC_AUTH_ENV",
    "FlowerConfigError",
    "flower_argv",
    "flower_environ",
    "run_flower",
    ]

BASIC_AUTH_ENV = "CASCADE_FLOWER_BASIC_AUTH"


class FlowerConfigError(ValueError):
    """Flower would start in a way cascade refuses (e.g. on a public address without auth)."""


def _is_loopback(address: str) -> bool:
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def flower_argv(
    *, port: int, address: str, purge_offline_s: int, url_prefix: str = ""
) -> list[str]:
    """Celery's command line for Flower (basic auth is passed through the environment)."""
    argv = [
        "flower",
        f"--port={port}",
        f"--address={address}",
        # A worker that stopped sending heartbeats leaves Flower's list after this long, so a
        # replaced container does not linger there as offline.
        f"--purge_offline_workers={purge_offline_s}",
    ]
    if url_prefix:
        argv.append(f"--url_prefix={url_prefix}")
    return argv


def flower_environ(environ: Mapping[str, str], *, address: str) -> dict[str, str]:
    """Flower's own variables for the auth cascade was given; refuses a public address
    without basic auth."""
    auth = environ.get(BASIC_AUTH_ENV, "").strip()
    if not auth:
        if not _is_loopback(address):
            raise FlowerConfigError(
                f"{BASIC_AUTH_ENV} is not set: Flower would serve tasks and controls on "
                f"{address} to anyone; set user:password, or bind to 127.0.0.1"
            )
        return {}
    if any(":" not in pair for pair in auth.split(",")):
        raise FlowerConfigError(f"{BASIC_AUTH_ENV} must be user:password[,user:password...]")
    return {"FLOWER_BASIC_AUTH": auth}


def run_flower(
    settings: Settings,
    queues: Sequence[str],
    *,
    port: int = 5555,
    address: str = "127.0.0.1",
    purge_offline_s: int = 60,
    url_prefix: str = "",
) -> None:
    """Run Flower on cascade's broker until stopped (blocks)."""
    os.environ.update(flower_environ(os.environ, address=address))
    app = create_celery(settings)
    app.conf.task_queues = [Queue(name) for name in queues]
    app.start(
        flower_argv(
            port=port, address=address, purge_offline_s=purge_offline_s, url_prefix=url_prefix
        )
    )
