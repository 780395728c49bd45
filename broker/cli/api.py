"""``cascade api``: the HTTP API server."""

from __future__ import annotations

import os
import sys

import click

from broker.cli.common import EXIT_REFUSED, errors
from broker.cli.processes import start_pipeline_driver

__all__ = ["NO_TENANT_WARNING", "api"]

NO_TENANT_WARNING = (
    "warning: no tenant is configured, so every request will be refused with 401: set "
    "CASCADE_API_KEYS=tenant=key[,tenant=key...] or CASCADE_TENANTS_FILE "
    "(docs/batches-and-api.md, 'HTTP API')"
)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8000, show_default=True)
@click.option("--no-webhooks", is_flag=True, help="do not run the webhook dispatcher here")
@click.option("--no-pipelines", is_flag=True, help="do not run a pipeline driver here")
@click.option("--log-level", default="info", show_default=True)
@click.pass_context
def api(
    ctx: click.Context, host: str, port: int, no_webhooks: bool, no_pipelines: bool,
    log_level: str,
) -> None:
    """Serve the HTTP API (tenants: CASCADE_TENANTS_FILE or CASCADE_API_KEYS)."""
    from broker.http_api.server import run_api
    from broker.http_api.tenants import TenantConfigError, TenantDirectory

    try:
        tenants = TenantDirectory.from_env(os.environ)
    except TenantConfigError as exc:
        errors.print(f"error: {exc}", markup=False, highlight=False)
        sys.exit(EXIT_REFUSED)
    if not tenants.key_digests:
        # A server that answers every request with 401 looks broken; say why at once.
        errors.print(NO_TENANT_WARNING, markup=False, highlight=False, soft_wrap=True)
    if not no_pipelines:
        start_pipeline_driver(ctx)
    run_api(
        ctx.obj.settings(),
        host=host,
        port=port,
        webhooks=not no_webhooks,
        log_level=log_level,
        tenants=tenants,
    )
