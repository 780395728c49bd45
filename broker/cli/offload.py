"""``cascade offload``: the poller that sends parked jobs through the providers' batch APIs."""

from __future__ import annotations

import click

from broker.cli.common import _settings_and_catalog

__all__ = ["offload"]


@click.command()
@click.option(
    "--provider",
    "providers",
    multiple=True,
    help="a provider whose parked jobs to offload (repeat; default: all with a batch mode)",
)
@click.pass_context
def offload(ctx: click.Context, providers: tuple[str, ...]) -> None:
    """Run an offload poller: parked jobs into provider batches, answers folded back, late or
    failed lines sent to their synchronous route. Several may run at once."""
    from broker.offload.process import run_poller

    settings, catalog = _settings_and_catalog(ctx, red=True)
    run_poller(settings, catalog, providers)
