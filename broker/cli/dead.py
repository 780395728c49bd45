"""``cascade dead ...``: jobs that failed on every target, listed and replayed."""

from __future__ import annotations

import sys

import click
from rich.table import Table

from broker.cli.common import EXIT_UNKNOWN, console, errors, job_client
from broker.cli.tables import print_whole

__all__ = ["dead"]


@click.group()
def dead() -> None:
    """Jobs that failed on every target of their route."""


@dead.command("list")
@click.option("--limit", type=int, default=50, show_default=True)
@click.pass_context
def dead_list(ctx: click.Context, limit: int) -> None:
    """The newest failed jobs, why each failed, and where it tried."""
    failed = job_client(ctx).dead_letters(limit)
    table = Table(title=f"dead letters (newest {limit})")
    for column in ("job", "failed at", "error", "attempts", "targets tried"):
        table.add_column(column)
    for result in failed:
        tried = dict.fromkeys(f"{a.target.provider}/{a.target.model}" for a in result.attempts)
        table.add_row(
            result.job_id,
            result.finished_at.strftime("%Y-%m-%d %H:%M:%S"),
            f"{result.error_class}: {result.error_message[:80]}",
            str(len(result.attempts)),
            ", ".join(tried),
        )
    print_whole(console, table)


@dead.command("replay")
@click.argument("job_ids", nargs=-1)
@click.option("--all", "replay_all", is_flag=True, help="replay every dead letter")
@click.pass_context
def dead_replay(ctx: click.Context, job_ids: tuple[str, ...], replay_all: bool) -> None:
    """Run failed jobs again, under the same ids, on freshly planned routes."""
    from broker.client import SubmitError, UnknownJob

    client = job_client(ctx)
    if replay_all == bool(job_ids):
        raise click.UsageError("give job ids or --all, not both")
    targets = [item.job_id for item in client.dead_letters(10_000)] if replay_all else job_ids
    problems = 0
    for job_id in targets:
        try:
            replayed = client.replay(job_id)
        except (UnknownJob, SubmitError) as exc:
            errors.print(f"{job_id}: not replayed: {exc}", markup=False)
            problems += 1
            continue
        click.echo(f"{job_id}: {'replayed' if replayed else 'not failed, left as it is'}")
    if problems:
        sys.exit(EXIT_UNKNOWN)
