"""``cascade submit``, ``cascade result`` and ``cascade status``: one job in, its result out,
and where it stands meanwhile."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from broker.cli.common import EXIT_REFUSED, EXIT_TIMEOUT, EXIT_UNKNOWN, errors, job_client
from broker.cli.job_stream import print_stream

__all__ = ["result", "status", "submit"]


@click.command()
@click.argument("prompt", required=False)
@click.option(
    "--file",
    "job_file",
    type=click.Path(exists=True, dir_okay=False),
    help='a job as JSON: {"needs": ..., "request": ..., "envelope": ...}',
)
@click.option("--tier", help="capability tier, e.g. standard")
@click.option("--model", help="one catalog model instead of a tier")
@click.option("--needs", "capabilities", help="required capabilities, comma-separated")
@click.option("--max-cost", type=float, help="most the job may cost, in USD")
@click.option("--max-tokens", type=int, help="output token limit")
@click.option("--tenant", help="tenant the job belongs to")
@click.option(
    "--priority",
    type=click.Choice(["interactive", "standard", "bulk"]),
    help="the job's turn in the scheduler (default: standard; a job file's envelope otherwise)",
)
@click.option("--wait", is_flag=True, help="wait for the result and print it")
@click.option("--stream", is_flag=True, help="stream the answer, printing text as it arrives")
@click.option("--timeout", type=float, default=120.0, show_default=True)
@click.pass_context
def submit(
    ctx: click.Context,
    prompt: str | None,
    job_file: str | None,
    tier: str | None,
    model: str | None,
    capabilities: str | None,
    max_cost: float | None,
    max_tokens: int | None,
    tenant: str | None,
    priority: str | None,
    wait: bool,
    stream: bool,
    timeout: float,
) -> None:
    """Submit one job: a PROMPT with --tier/--model, or a job file. Prints the job id."""
    from broker.client import SubmitError

    client = job_client(ctx)
    try:
        if job_file is not None:
            data = json.loads(Path(job_file).read_text())
            if priority is not None and isinstance(data, dict):
                data.setdefault("envelope", {})["priority"] = priority
            job = client.parse_job(data)
        else:
            needs: dict[str, Any] = {}
            if capabilities:
                needs["capabilities"] = [item.strip() for item in capabilities.split(",")]
            if max_cost is not None:
                needs["max_cost_usd"] = max_cost
            request: dict[str, Any] = {"messages": [{"role": "user", "content": prompt or ""}]}
            if max_tokens is not None:
                request["max_tokens"] = max_tokens
            job = client.build_job(
                request, tier=tier, model=model, needs=needs, tenant=tenant, priority=priority
            )
        if stream:
            job = job.model_copy(
                update={"envelope": job.envelope.model_copy(update={"stream": True})}
            )
        job_id = client.submit(job)
    except (SubmitError, json.JSONDecodeError) as exc:
        errors.print(f"refused, nothing was enqueued:\n{exc}", markup=False, highlight=False)
        sys.exit(EXIT_REFUSED)
    if stream:
        sys.exit(print_stream(client, job_id, timeout))
    if not wait:
        click.echo(job_id)
        return
    _print_result(client, job_id, wait=True, timeout=timeout)


@click.command()
@click.argument("job_id")
@click.option("--wait", is_flag=True, help="wait until the job ends")
@click.option("--timeout", type=float, default=120.0, show_default=True)
@click.pass_context
def result(ctx: click.Context, job_id: str, wait: bool, timeout: float) -> None:
    """Print a job's result as JSON (or its status while it runs)."""
    _print_result(job_client(ctx), job_id, wait=wait, timeout=timeout)


def _print_result(client: Any, job_id: str, *, wait: bool, timeout: float) -> None:
    from broker.client import JobTimeout, UnknownJob
    from broker.job_notes import job_notes

    try:
        found = client.wait(job_id, timeout) if wait else client.get(job_id)
        if found is None:
            status = {"job_id": job_id, "status": client.status(job_id).value}
            notes = job_notes(client.redis, client.keys, job_id)
            click.echo(json.dumps({**status, **({"scheduling": notes} if notes else {})}))
            return
    except UnknownJob:
        errors.print(f"no job with id {job_id!r} (never submitted, or expired)", markup=False)
        sys.exit(EXIT_UNKNOWN)
    except JobTimeout as exc:
        errors.print(str(exc), markup=False)
        sys.exit(EXIT_TIMEOUT)
    click.echo(found.model_dump_json(indent=2))
    if found.status == "failed":
        sys.exit(1)


@click.command()
@click.argument("job_id")
@click.pass_context
def status(ctx: click.Context, job_id: str) -> None:
    """Print where a job stands as JSON: its status; why it waits if it is held (one entry:
    reason, first and last time, count); for a job that may wait for a provider batch, the
    offload decision, the provider batch and its state, or why it fell back; its attempts so
    far."""
    from broker.offload.status import read_offload

    client = job_client(ctx)
    found = client.store.status(job_id)
    if found is None:
        errors.print(f"no job with id {job_id!r} (never submitted, or expired)", markup=False)
        sys.exit(EXIT_UNKNOWN)
    held = client.store.hold_record(job_id)
    view = {
        "job_id": job_id,
        "status": found.value,
        "held": None if held is None else held.view(),
        "offload": read_offload(client.redis, client.keys, job_id, client.store.result(job_id)),
        "attempts": [a.model_dump(mode="json") for a in client.store.attempts(job_id)],
    }
    click.echo(json.dumps(view, indent=2))
