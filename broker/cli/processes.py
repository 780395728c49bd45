"""Commands that run one of cascade's processes: a worker, the emulator, the demo stack."""

from __future__ import annotations

import sys

import click

from broker.cli.common import EXIT_REFUSED, errors

__all__ = ["demo", "emulator", "worker"]


@click.command()
@click.option("--provider", "providers", required=True, multiple=True,
              help="a catalog provider whose queues to consume (repeat for several)")
@click.option("--concurrency", type=int, help="calls in flight (default: the providers' settings)")
@click.option("--loglevel", default="INFO", show_default=True)
@click.pass_context
def worker(
    ctx: click.Context, providers: tuple[str, ...], concurrency: int | None, loglevel: str
) -> None:
    """Run a worker for a provider: it consumes every <tier>.<provider> queue."""
    from workers.startup import run_worker

    run_worker(providers, ctx.obj.settings(), concurrency=concurrency, loglevel=loglevel)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8900, show_default=True)
@click.option("--latency", type=float, help="seconds every answer takes")
@click.option(
    "--faults",
    "faults_file",
    type=click.Path(exists=True, dir_okay=False),
    help="YAML or JSON emulator configuration with fault rules",
)
def emulator(host: str, port: int, latency: float | None, faults_file: str | None) -> None:
    """Run the provider emulator: every provider's wire format on one local HTTP port."""
    from adapters.emulator import EmulatorConfig, EmulatorConfigError, load_emulator_config, run

    try:
        config = load_emulator_config(faults_file) if faults_file else EmulatorConfig()
    except EmulatorConfigError as exc:
        errors.print(str(exc), markup=False, highlight=False)
        sys.exit(EXIT_REFUSED)
    if latency is not None:
        config = config.model_copy(
            update={"latency": config.latency.model_copy(update={"base": latency})}
        )
    run(host, port, config)


@click.command()
@click.option("--jobs", "job_count", type=int, default=12, show_default=True)
def demo(job_count: int) -> None:
    """Start Redis (embedded if none answers), the emulator and workers; run a small batch."""
    from broker.demo import run_demo

    sys.exit(run_demo(job_count))
