"""``cascade batch ...``: batches in the OpenAI Batch API's JSONL format."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from broker.cli.common import EXIT_REFUSED, EXIT_TIMEOUT, EXIT_UNKNOWN, batches_or_exit, errors

__all__ = ["batch"]


@click.group()
def batch() -> None:
    """Batches of jobs in the OpenAI Batch API's JSONL format."""


@batch.command("submit")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--tenant", default="default", show_default=True)
@click.option("--default-tier", help="tier for lines whose body names no model")
@click.option(
    "--priority",
    type=click.Choice(["interactive", "standard", "bulk"]),
    default="bulk",
    show_default=True,
    help="every line's turn in the scheduler",
)
@click.option("--webhook-url", help="POSTed (signed) when the batch ends")
@click.option("--wait", is_flag=True, help="show progress until the batch ends")
@click.option("--timeout", type=float, default=3600.0, show_default=True)
@click.pass_context
def batch_submit(
    ctx: click.Context,
    file: str,
    tenant: str,
    default_tier: str | None,
    priority: str,
    webhook_url: str | None,
    wait: bool,
    timeout: float,
) -> None:
    """Check every line of FILE, enqueue them all, print the batch id."""
    from broker.batches import BatchInputError

    batches = batches_or_exit(ctx)
    try:
        if webhook_url:
            batches.webhooks.check_url(webhook_url)
    except ValueError as exc:
        errors.print(f"refused, nothing was enqueued:\n--webhook-url: {exc}", markup=False)
        sys.exit(EXIT_REFUSED)
    try:
        record = batches.submit_file(
            file,
            tenant=tenant,
            default_tier=default_tier,
            webhook_url=webhook_url,
            priority=priority,
        )
    except BatchInputError as exc:
        errors.print(f"refused, nothing was enqueued:\n{exc}", markup=False, highlight=False)
        sys.exit(EXIT_REFUSED)
    click.echo(record.id)
    if wait:
        _wait(batches, record.id, timeout)


def _wait(batches: Any, batch_id: str, timeout: float) -> None:
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=errors) as progress:
        task = progress.add_task(batch_id, total=None, detail="")

        def show(record: Any) -> None:
            counts = record.counts
            detail = (
                f"ok {counts.succeeded} · failed {counts.failed} · "
                f"cancelled {counts.cancelled} · queued/running {counts.queued}"
            )
            progress.update(task, total=counts.total, completed=counts.finished, detail=detail)

        record = batches.wait(batch_id, timeout, on_progress=show)
    click.echo(json.dumps(record.to_openai(), indent=2))
    if not record.done:
        sys.exit(EXIT_TIMEOUT)


def _record_or_exit(batches: Any, batch_id: str, method: str = "get") -> Any:
    from broker.batches import UnknownBatch

    try:
        return getattr(batches, method)(batch_id)
    except UnknownBatch:
        errors.print(f"no batch with id {batch_id!r}", markup=False)
        sys.exit(EXIT_UNKNOWN)


@batch.command("status")
@click.argument("batch_id")
@click.option("--wait", is_flag=True, help="show progress until the batch ends")
@click.option("--timeout", type=float, default=3600.0, show_default=True)
@click.pass_context
def batch_status(ctx: click.Context, batch_id: str, wait: bool, timeout: float) -> None:
    """Print the batch: status, counts, timestamps (OpenAI's Batch object, plus counts)."""
    batches = batches_or_exit(ctx)
    record = _record_or_exit(batches, batch_id)
    if wait:
        _wait(batches, record.id, timeout)
        return
    click.echo(json.dumps(record.to_openai(), indent=2))


@batch.command("results")
@click.argument("batch_id")
@click.option("--errors", is_flag=True, help="the errors file instead of the output file")
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="write to this file")
@click.pass_context
def batch_results(ctx: click.Context, batch_id: str, errors: bool, output: str | None) -> None:
    """Print the batch's output (or errors) in OpenAI's batch output JSONL format."""
    batches = batches_or_exit(ctx)
    _record_or_exit(batches, batch_id)
    text = batches.output_jsonl(batch_id, errors=errors)
    if output:
        Path(output).write_text(text)
    else:
        click.echo(text, nl=False)


@batch.command("cancel")
@click.argument("batch_id")
@click.pass_context
def batch_cancel(ctx: click.Context, batch_id: str) -> None:
    """End every job of the batch that has not ended yet; print the batch."""
    record = _record_or_exit(batches_or_exit(ctx), batch_id, "cancel")
    click.echo(json.dumps(record.to_openai(), indent=2))
