"""The ``cascade`` command: submit jobs, read results, run workers, the emulator, the demo.

One module per command group; each imports what its commands need only when they run, so that
``cascade --help`` and a worker's start stay light.
"""

from __future__ import annotations

import click

from broker.cli.api import api
from broker.cli.batches import batch
from broker.cli.bench import bench, bench_schedule
from broker.cli.common import CliContext
from broker.cli.dead import dead
from broker.cli.jobs import result, status, submit
from broker.cli.offload import offload
from broker.cli.operations import flower, health, metrics, ping
from broker.cli.pipelines import pipeline
from broker.cli.processes import demo, emulator, worker
from broker.cli.routing import route_command, routes, usage
from broker.cli.scheduling import queues
from broker.cli.webhooks import webhooks

__all__ = ["main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", type=click.Path(dir_okay=False), help="cascade.yaml [CASCADE_CONFIG]")
@click.option("--profile", help="catalog profile, e.g. 'emulated' [CASCADE_PROFILE]")
@click.option("--redis-url", help="Redis URL [CASCADE_REDIS_URL]")
@click.pass_context
def main(
    ctx: click.Context, config: str | None, profile: str | None, redis_url: str | None
) -> None:
    """cascade: an asynchronous, queue-based inference broker."""
    ctx.obj = CliContext({"config": config, "profile": profile, "redis_url": redis_url})


for _command in (
    submit,
    status,
    result,
    dead,
    health,
    routes,
    worker,
    emulator,
    demo,
    metrics,
    flower,
    ping,
    batch,
    api,
    webhooks,
    route_command,
    usage,
    bench,
    pipeline,
    bench_schedule,
    queues,
    offload,
):
    main.add_command(_command)
