"""``cascade webhooks``: the webhook dispatcher, run on its own."""

from __future__ import annotations

import os
import signal
import threading

import click

from broker.cli.common import batches_or_exit

__all__ = ["webhooks"]


@click.command()
@click.pass_context
def webhooks(ctx: click.Context) -> None:
    """Deliver webhooks (signed with each tenant's secret) until stopped."""
    from broker.http_api.tenants import TenantDirectory
    from broker.webhooks import WebhookDispatcher

    batches = batches_or_exit(ctx)
    tenants = TenantDirectory.from_env(os.environ)
    client = batches.client
    dispatcher = WebhookDispatcher(
        client.redis,
        client.keys,
        payload_for=batches.webhook_payload,
        secrets=tenants.webhook_secrets,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        dispatcher.run(stop)
    except KeyboardInterrupt:
        stop.set()
