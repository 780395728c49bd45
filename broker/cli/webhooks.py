"""``cascade webhooks``: the webhook dispatcher run on its own, and its given-up deliveries."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import sys
import threading
import time
from datetime import UTC, datetime
from typing import Any

import click
from rich.table import Table

from broker.cli.common import EXIT_UNKNOWN, batches_or_exit, console, errors

__all__ = ["webhooks"]


def _failed_store(batches: Any) -> Any:
    from broker.webhooks import FailedDeliveries

    client = batches.client
    settings = client.settings
    return FailedDeliveries(
        client.redis,
        client.keys,
        ttl_s=settings.webhook_failed_ttl_s,
        max_kept=settings.webhook_failed_max,
    )


@click.group(invoke_without_command=True)
@click.pass_context
def webhooks(ctx: click.Context) -> None:
    """Deliver webhooks (signed with each tenant's secret) until stopped; or, with a
    subcommand, list or replay the deliveries that were given up."""
    if ctx.invoked_subcommand is not None:
        return
    from broker.http_api.tenants import TenantDirectory
    from broker.pipelines.state import PipelineStore
    from broker.pipelines.webhooks import with_pipelines
    from broker.webhooks import DeliveryPolicy, TargetPolicy, WebhookDispatcher

    batches = batches_or_exit(ctx)
    tenants = TenantDirectory.from_env(os.environ)
    client = batches.client
    dispatcher = WebhookDispatcher(
        client.redis,
        client.keys,
        payload_for=with_pipelines(
            batches.webhook_payload,
            PipelineStore(client.redis, client.keys, client.settings.result_ttl_s),
        ),
        secrets=tenants.webhook_secrets,
        policy=DeliveryPolicy.from_settings(client.settings),
        targets=TargetPolicy.from_settings(client.settings),
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        dispatcher.run(stop)
    except KeyboardInterrupt:
        stop.set()


@webhooks.command("failed")
@click.option("--limit", type=int, default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="print JSON rows")
@click.pass_context
def webhooks_failed(ctx: click.Context, limit: int, as_json: bool) -> None:
    """The newest given-up deliveries: where each went, how often, and the last error."""
    failed = _failed_store(batches_or_exit(ctx)).newest(limit)
    if as_json:
        click.echo(json.dumps([dataclasses.asdict(item) for item in failed], indent=2))
        return
    table = Table(title=f"given-up webhook deliveries (newest {limit})")
    for column in ("delivery", "tenant", "subject", "url", "attempts", "failed at", "last error"):
        table.add_column(column)
    for item in failed:
        when = datetime.fromtimestamp(item.failed_at, UTC).strftime("%Y-%m-%d %H:%M:%S")
        table.add_row(
            item.id,
            item.tenant,
            item.subject,
            item.url,
            str(item.attempts),
            when,
            item.last_error[:80],
        )
    console.print(table)


@webhooks.command("replay")
@click.argument("delivery_ids", nargs=-1)
@click.option("--all", "replay_all", is_flag=True, help="replay every given-up delivery")
@click.pass_context
def webhooks_replay(ctx: click.Context, delivery_ids: tuple[str, ...], replay_all: bool) -> None:
    """Send given-up deliveries again (same delivery id, body rebuilt from the job or batch)."""
    from broker.webhooks import NotReplayed

    if replay_all == bool(delivery_ids):
        raise click.UsageError("give delivery ids or --all, not both")
    batches = batches_or_exit(ctx)
    store = _failed_store(batches)
    targets = store.ids(store.max_kept) if replay_all else list(delivery_ids)
    ttl_s = batches.client.settings.result_ttl_s
    problems = 0
    for delivery_id in targets:
        try:
            store.replay(delivery_id, batches.webhook_payload, now=time.time(), ttl_s=ttl_s)
        except NotReplayed as exc:
            errors.print(f"not replayed: {exc}", markup=False, highlight=False)
            problems += 1
            continue
        click.echo(f"{delivery_id}: due again")
    if problems:
        sys.exit(EXIT_UNKNOWN)
