"""Starting a worker for one provider: which queues it consumes, with which pool and concurrency."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import structlog
from celery.signals import worker_ready

from adapters.registry import get_adapter
from broker.catalog_file import load_catalog
from broker.celery_app import create_celery
from broker.keys import Keys
from broker.logs import configure_logging
from broker.metrics import serve_from_env as serve_metrics_from_env
from broker.redis_clients import redis_client
from broker.scheduler import Dispatcher, PickPolicy
from broker.settings import Settings
from routing.queues import queues_for_provider
from workers.broker_transport import TRANSPORT
from workers.event_batches import CONSUMER
from workers.gc_tuning import tune_collector
from workers.tasks import register_tasks

__all__ = ["run_worker", "start_dispatcher", "worker_argv"]


def worker_argv(
    name: str,
    queues: list[str],
    *,
    pool: str,
    concurrency: int,
    loglevel: str,
    task_events: bool = True,
) -> list[str]:
    """Celery's worker arguments. Threads: provider calls wait on the network, not the CPU,
    so one process holds as many calls in flight as it has threads, with no monkey-patching."""
    return [
        "worker",
        "--queues", ",".join(queues),
        "--pool", pool,
        "--concurrency", str(concurrency),
        "--hostname", f"{name}@%h",
        "--loglevel", loglevel,
        # Mingle and gossip sync state between workers at start-up; cascade keeps its shared
        # state in Redis and does not need them, and they slow every start.
        "--without-mingle",
        "--without-gossip",
        *(["--task-events"] if task_events else []),
    ]  # fmt: skip


def run_worker(
    providers: Sequence[str],
    settings: Settings,
    *,
    concurrency: int | None = None,
    loglevel: str = "INFO",
) -> None:
    """Consume every ``<tier>.<provider>`` queue of the given providers until stopped (blocks).

    One provider per worker is the production shape (a slow provider holds up only its own
    workers); several in one process suit a laptop or a test.
    """
    catalog = load_catalog(settings.config, settings.profile, emulator_url=settings.emulator_url)
    queues: list[str] = []
    slots = 0
    for provider in providers:
        config = catalog.provider(provider)
        get_adapter(config.wire_format)  # an unknown wire format stops the worker at once
        found = queues_for_provider(catalog, provider)
        if not found:
            raise ValueError(f"provider {provider!r} serves no tier in the catalog: no queue")
        queues += found
        slots += config.concurrency
    if settings.cpu_probe_dir:
        from broker.bench.cpu_probe import install

        install(settings.cpu_probe_dir)
    configure_logging(level=logging.getLevelName(loglevel.upper()))
    serve_metrics_from_env()
    app = create_celery(settings)
    app.conf.broker_transport = TRANSPORT
    app.conf.worker_consumer = CONSUMER
    dispatcher = start_dispatcher(settings, queues)
    register_tasks(app, settings, dispatcher.taken)

    def ready(**_: object) -> None:
        thresholds = tune_collector(settings.worker_gc_threshold)
        structlog.get_logger("cascade.worker").info("collector tuned", thresholds=thresholds)

    worker_ready.connect(ready, weak=False)
    app.worker_main(
        worker_argv(
            "+".join(providers),
            queues,
            pool=settings.worker_pool,
            concurrency=concurrency or settings.worker_concurrency or slots,
            loglevel=loglevel,
            task_events=settings.task_events,
        )
    )


def start_dispatcher(settings: Settings, queues: Sequence[str]) -> Dispatcher:
    """Run the scheduler's dispatch threads for this worker's queues. Woken by submits to a
    list below its low water mark (pub/sub) and, through ``Dispatcher.taken``, which the
    execute task calls in this process, by each delivery that began from such a list."""
    dispatcher = Dispatcher(
        redis_client(settings),
        Keys(settings.key_prefix),
        queues,
        depth=settings.dispatch_depth,
        policy=PickPolicy(settings.starvation_every, settings.tenant_weights),
        sweep_s=settings.dispatch_sweep_s,
    )
    dispatcher.start()
    return dispatcher
