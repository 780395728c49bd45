"""Operations: the metrics exporter, Flower, the health table and the container ping."""

from __future__ import annotations

import sys

import click
from rich.table import Table

from broker.cli.common import EXIT_REFUSED, catalog_or_exit, console, errors

__all__ = ["flower", "health", "metrics", "ping"]


@click.command()
@click.pass_context
def health(ctx: click.Context) -> None:
    """Each target's circuit, recent error rate and latency; keys taken out of rotation."""
    import os

    import redis as redis_client

    from broker.catalog_file import load_catalog
    from broker.health import provider_health
    from broker.keys import Keys

    settings = ctx.obj.settings()
    catalog = load_catalog(settings.config, settings.profile, emulator_url=settings.emulator_url)
    client = redis_client.Redis.from_url(settings.redis_url)
    table = Table(title="targets (circuits shared by every worker)")
    for column in ("provider", "target", "state", "calls", "error rate", "latency", "note"):
        table.add_column(column)
    for found in provider_health(client, Keys(settings.key_prefix), catalog, os.environ):
        circuits = [("model", name, status) for name, status in found.models.items()]
        circuits += [("key", name, status) for name, status in found.keys.items()]
        for kind, name, status in circuits:
            out = found.taken_out.get(name) if kind == "key" else None
            table.add_row(
                found.provider,
                f"{kind} {name}",
                status.state.value,
                str(status.calls),
                f"{status.error_rate:.0%}",
                "" if status.latency_s is None else f"{status.latency_s * 1000:.0f} ms",
                f"taken out: {out.reason}" if out else "",
            )
    console.print(table)


@click.command()
@click.option("--address", default="127.0.0.1", show_default=True, help="address to listen on")
@click.option("--port", type=int, default=9808, show_default=True)
@click.pass_context
def metrics(ctx: click.Context, address: str, port: int) -> None:
    """Serve Prometheus metrics read from Redis: queue lengths, jobs waiting in the scheduler,
    unacked messages, dead letters."""
    import signal

    import redis
    import structlog
    from prometheus_client import CollectorRegistry

    from broker.keys import Keys
    from broker.logs import configure_logging
    from broker.metrics import RedisCollector, serve
    from broker.scheduler import SchedulerState
    from broker.scheduler.metrics import SchedulerCollector
    from routing.queues import all_queues

    settings = ctx.obj.settings()
    catalog = catalog_or_exit(ctx)
    registry = CollectorRegistry()
    client = redis.Redis.from_url(settings.redis_url, socket_timeout=5)
    keys = Keys(settings.key_prefix)
    registry.register(RedisCollector(client, all_queues(catalog), keys.dead_letters()))
    registry.register(SchedulerCollector(SchedulerState(client, keys), all_queues(catalog)))
    configure_logging()
    serve(port, address, registry)
    structlog.get_logger("cascade.metrics").info(
        "serving metrics", url=f"http://{address}:{port}/metrics"
    )
    signal.sigwait({signal.SIGINT, signal.SIGTERM})


@click.command()
@click.option("--address", default="127.0.0.1", show_default=True, help="address to listen on")
@click.option("--port", type=int, default=5555, show_default=True)
@click.option(
    "--purge-offline-after",
    "purge_offline_s",
    type=int,
    default=60,
    show_default=True,
    help="seconds after which an offline worker leaves the list",
)
@click.option("--url-prefix", default="", help="when Flower is served under a path")
@click.pass_context
def flower(
    ctx: click.Context, address: str, port: int, purge_offline_s: int, url_prefix: str
) -> None:
    """Run Flower on cascade's broker, with every queue declared; basic auth from
    CASCADE_FLOWER_BASIC_AUTH (user:password). Its /metrics has no authentication."""
    import os

    from broker.flower import FlowerConfigError, flower_environ, run_flower
    from routing.queues import all_queues

    try:
        flower_environ(os.environ, address=address)
    except FlowerConfigError as exc:
        errors.print(f"error: {exc}", markup=False, highlight=False)
        sys.exit(EXIT_REFUSED)
    run_flower(
        ctx.obj.settings(),
        all_queues(catalog_or_exit(ctx)),
        port=port,
        address=address,
        purge_offline_s=purge_offline_s,
        url_prefix=url_prefix,
    )


@click.command()
@click.option("--provider", required=True, help="the provider whose worker on this host to ping")
@click.option("--timeout", type=float, default=3.0, show_default=True)
@click.pass_context
def ping(ctx: click.Context, provider: str, timeout: float) -> None:
    """Exit 0 if this host's worker for PROVIDER answers through the broker (a health check)."""
    from broker.health import ping_worker, worker_name

    if ping_worker(ctx.obj.settings(), provider, timeout_s=timeout):
        click.echo(f"{worker_name(provider)}: pong")
        return
    errors.print(f"{worker_name(provider)}: no answer within {timeout:g}s", markup=False)
    sys.exit(1)
