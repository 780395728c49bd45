"""Commands that run one of cascade's processes: a worker, the emulator, the demo stack."""

from __future__ import annotations

import os
import sys

import click

from broker.cli.common import EXIT_REFUSED, catalog_or_exit, errors, job_client

__all__ = ["demo", "emulator", "start_pipeline_driver", "worker"]


def start_pipeline_driver(ctx: click.Context) -> None:
    """A pipeline driver in a daemon thread of this process (docs/ARCHITECTURE.md says why)."""
    from broker.pipelines.driver import PipelineDriver

    PipelineDriver(job_client(ctx)).start()


@click.command()
@click.option(
    "--provider",
    "providers",
    required=True,
    multiple=True,
    help="a catalog provider whose queues to consume (repeat for several)",
)
@click.option("--concurrency", type=int, help="calls in flight (default: the providers' settings)")
@click.option("--loglevel", default="INFO", show_default=True)
@click.option("--no-pipelines", is_flag=True, help="do not run a pipeline driver here")
@click.option(
    "--no-offload", is_flag=True, help="do not run an offload poller here (run with offloading on)"
)
@click.pass_context
def worker(
    ctx: click.Context,
    providers: tuple[str, ...],
    concurrency: int | None,
    loglevel: str,
    no_pipelines: bool,
    no_offload: bool,
) -> None:
    """Run a worker for a provider: it consumes every <tier>.<provider> queue."""
    from workers.startup import run_worker

    if not no_pipelines:
        start_pipeline_driver(ctx)
    settings = ctx.obj.settings()
    if settings.offload_enabled and not no_offload:
        from broker.offload.process import start_poller_thread

        start_poller_thread(settings, catalog_or_exit(ctx), providers)
    run_worker(providers, settings, concurrency=concurrency, loglevel=loglevel)


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
@click.option("--redis-url", help="use this Redis instead of a private one [CASCADE_REDIS_URL]")
@click.pass_context
def demo(ctx: click.Context, job_count: int, redis_url: str | None) -> None:
    """Start a private Redis, the emulator and workers; run a small batch; stop them all."""
    from broker.demo import demo_redis_url, run_demo

    given = demo_redis_url(redis_url, ctx.obj.overrides.get("redis_url"), os.environ)
    sys.exit(run_demo(job_count, redis_url=given))
