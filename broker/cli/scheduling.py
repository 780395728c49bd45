"""``cascade queues``: what waits, per queue, priority and tenant, in a table."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import click
from rich.table import Table

from broker.cli.common import catalog_or_exit, console

__all__ = ["queues"]


@click.command()
@click.option("--json", "as_json", is_flag=True, help="print JSON lines instead of a table")
@click.pass_context
def queues(ctx: click.Context, as_json: bool) -> None:
    """Jobs waiting in the scheduler per (queue, priority, tenant), jobs held per queue (no
    target can take them for now), jobs waiting for a cheaper price window per queue, and each
    queue's Celery list (picked, not yet taken)."""
    import redis

    from broker.keys import Keys
    from broker.scheduler import DeferredJobs, HeldJobs, SchedulerState
    from routing.queues import all_queues

    settings = ctx.obj.settings()
    names = all_queues(catalog_or_exit(ctx))
    client = redis.Redis.from_url(settings.redis_url, socket_timeout=5)
    keys = Keys(settings.key_prefix)
    counts = SchedulerState(client, keys).waiting(names)
    held = HeldJobs(client, keys).counts(names)
    deferred = DeferredJobs(client, keys).counts(names)
    pipe = client.pipeline(transaction=False)
    for name in names:
        pipe.llen(name)
    listed = dict(zip(names, (int(n) for n in pipe.execute()), strict=True))
    if as_json:
        for count in counts:
            row = {"queue": count.queue, "priority": count.priority.value}
            click.echo(json.dumps({**row, "tenant": count.tenant, "waiting": count.jobs}))
        for name, n in held.items():
            if n:
                click.echo(json.dumps({"queue": name, "held": n}))
        for name, (n, opens) in deferred.items():
            if n:
                click.echo(json.dumps({"queue": name, "price_window": n, "opens": _iso(opens)}))
        return
    table = Table(title="waiting in the scheduler (picked by priority, tenant share, deadline)")
    for column in ("queue", "priority", "tenant", "waiting"):
        table.add_column(column, justify="right" if column == "waiting" else "left")
    for count in counts:
        table.add_row(count.queue, count.priority.value, count.tenant, f"{count.jobs:,}")
    console.print(table)
    on_hold = ", ".join(f"{name} {n}" for name, n in held.items() if n)
    console.print(f"held (no target can take them for now): {on_hold or 'none'}")
    for_prices = ", ".join(
        f"{name} {n} (first at {_iso(opens)})" for name, (n, opens) in deferred.items() if n
    )
    console.print(f"waiting for a price window (cheaper, opens later): {for_prices or 'none'}")
    on_lists = ", ".join(f"{name} {n}" for name, n in listed.items() if n)
    console.print(f"on the Celery queues: {on_lists or 'none'}")


def _iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")
