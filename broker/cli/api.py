"""``cascade api``: the HTTP API server."""

from __future__ import annotations

import click

__all__ = ["api"]


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8000, show_default=True)
@click.option("--no-webhooks", is_flag=True, help="do not run the webhook dispatcher here")
@click.option("--log-level", default="info", show_default=True)
@click.pass_context
def api(ctx: click.Context, host: str, port: int, no_webhooks: bool, log_level: str) -> None:
    """Serve the HTTP API (tenants: CASCADE_TENANTS_FILE or CASCADE_API_KEYS)."""
    from broker.http_api.server import run_api

    run_api(ctx.obj.settings(), host=host, port=port, webhooks=not no_webhooks, log_level=log_level)
