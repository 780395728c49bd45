"""Running the HTTP API under uvicorn (``cascade api``)."""

from __future__ import annotations

import os

import uvicorn

from broker.catalog_file import load_catalog
from broker.client import CascadeClient
from broker.http_api.app import create_app
from broker.http_api.tenants import TenantDirectory
from broker.settings import Settings

__all__ = ["run_api"]


def run_api(
    settings: Settings,
    *,
    host: str,
    port: int,
    webhooks: bool = True,
    log_level: str = "info",
    tenants: TenantDirectory | None = None,
) -> None:
    tenants = tenants or TenantDirectory.from_env(os.environ)
    catalog = load_catalog(settings.config, settings.profile, emulator_url=settings.emulator_url)
    client = CascadeClient(settings, catalog)
    app = create_app(client, tenants, webhooks=webhooks)
    try:
        # uvicorn's access log names method, path and status, never headers: keys stay out.
        uvicorn.run(app, host=host, port=port, log_level=log_level)
    finally:
        client.close()
