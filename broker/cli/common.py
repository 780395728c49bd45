"""What every command module shares: exit codes, consoles, settings, and loading the catalog,
the client or the batches facade (exiting with EXIT_REFUSED when the catalog is bad)."""

from __future__ import annotations

import sys
from typing import Any

import click
from rich.console import Console

from broker.settings import Settings

__all__ = [
    "EXIT_REFUSED",
    "EXIT_TIMEOUT",
    "EXIT_UNKNOWN",
    "CliContext",
    "batches_or_exit",
    "catalog_or_exit",
    "console",
    "errors",
    "job_client",
]

EXIT_UNKNOWN = 2
EXIT_REFUSED = 3
EXIT_TIMEOUT = 4

console = Console()
errors = Console(stderr=True)


class CliContext:
    """The group's options, turned into Settings when a command needs them."""

    def __init__(self, overrides: dict[str, Any]) -> None:
        self.overrides = {key: value for key, value in overrides.items() if value is not None}

    def settings(self) -> Settings:
        return Settings(**self.overrides)


def _settings_and_catalog(ctx: click.Context, *, red: bool = False) -> tuple[Settings, Any]:
    from broker.catalog_file import CatalogError, load_catalog

    settings = ctx.obj.settings()
    try:
        catalog = load_catalog(
            settings.config, settings.profile, emulator_url=settings.emulator_url
        )
    except CatalogError as exc:
        if red:
            errors.print(f"[red]error:[/red] {exc}", markup=True, highlight=False)
        else:
            errors.print(f"error: {exc}", markup=False, highlight=False)
        sys.exit(EXIT_REFUSED)
    return settings, catalog


def job_client(ctx: click.Context) -> Any:
    from broker.client import CascadeClient

    return CascadeClient(*_settings_and_catalog(ctx, red=True))


def catalog_or_exit(ctx: click.Context) -> Any:
    return _settings_and_catalog(ctx)[1]


def batches_or_exit(ctx: click.Context) -> Any:
    from broker.batches import Batches
    from broker.client import CascadeClient

    return Batches(CascadeClient(*_settings_and_catalog(ctx)))
