"""``cascade pipeline``: submit a pipeline, show its steps as a tree, cancel it, drive them."""

from __future__ import annotations

import json
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import click
import yaml

from broker.cli.common import EXIT_REFUSED, EXIT_TIMEOUT, EXIT_UNKNOWN, console, errors, job_client

__all__ = ["pipeline"]


@click.group()
def pipeline() -> None:
    """Pipelines: several completions composed in one request (docs/pipelines.md)."""


def _pipelines(ctx: click.Context) -> Any:
    from broker.catalog_file import CatalogError, load_pipelines
    from broker.pipelines.facade import Pipelines

    client = job_client(ctx)
    try:
        named = load_pipelines(client.settings.config)
    except CatalogError as exc:
        errors.print(f"error: {exc}", markup=False, highlight=False)
        sys.exit(EXIT_REFUSED)
    return Pipelines(client, named)


@pipeline.command("submit")
@click.argument("source")
@click.option("--input", "input_json", default="{}", help="the pipeline's input, a JSON object")
@click.option("--id", "pipeline_id", help="the pipeline's id (default: a new one)")
@click.option("--tenant", default="default", show_default=True)
@click.option("--wait", is_flag=True, help="wait for the result and print it")
@click.option("--stream", is_flag=True, help="print the output step's answer as it streams")
@click.option("--timeout", type=float, default=300.0, show_default=True)
@click.pass_context
def submit(
    ctx: click.Context,
    source: str,
    input_json: str,
    pipeline_id: str | None,
    tenant: str,
    wait: bool,
    stream: bool,
    timeout: float,
) -> None:
    """Submit a pipeline: SOURCE is a YAML/JSON file or a catalog pipeline's name."""
    from broker.client import SubmitError
    from broker.pipelines.graph import PipelineError

    pipelines = _pipelines(ctx)
    try:
        definition: Any = source
        if Path(source).is_file():
            definition = yaml.safe_load(Path(source).read_text(encoding="utf-8"))
        data = json.loads(input_json)
        envelope = {"stream": True} if stream else None
        found = pipelines.submit(
            definition, data, pipeline_id=pipeline_id, tenant=tenant, envelope=envelope
        )
    except (PipelineError, SubmitError, json.JSONDecodeError, yaml.YAMLError) as exc:
        errors.print(f"refused, nothing was started:\n{exc}", markup=False, highlight=False)
        sys.exit(EXIT_REFUSED)
    if stream:
        sys.exit(_print_stream(pipelines, found, timeout))
    if not wait:
        click.echo(found)
        return
    _print_result(pipelines, found, timeout)


def _print_stream(pipelines: Any, pipeline_id: str, timeout: float) -> int:
    """Print the answer as it streams (the pipeline id first, on stderr); the exit status.
    A round sent back by its validator, or an attempt failed over, is said on stderr."""
    from broker.cli.job_stream import print_chunks
    from broker.pipelines.streaming import PipelineStreamFailed

    errors.print(f"pipeline {pipeline_id}", markup=False, highlight=False)
    try:
        print_chunks(pipelines.client.stream_pipeline(pipeline_id, timeout=timeout))
    except PipelineStreamFailed as exc:
        errors.print(f"\n{exc}", markup=False, highlight=False, soft_wrap=True)
        return 1 if exc.result is not None else EXIT_TIMEOUT
    click.echo()
    return 0


def _print_result(pipelines: Any, pipeline_id: str, timeout: float) -> None:
    from broker.pipelines.facade import PipelineTimeout

    try:
        result = pipelines.wait(pipeline_id, timeout)
    except PipelineTimeout as exc:
        errors.print(str(exc), markup=False)
        sys.exit(EXIT_TIMEOUT)
    click.echo(result.model_dump_json(indent=2))
    if result.status != "succeeded":
        sys.exit(1)


@pipeline.command("status")
@click.argument("pipeline_id")
@click.option("--json", "as_json", is_flag=True, help="the record as JSON instead of a tree")
@click.pass_context
def status(ctx: click.Context, pipeline_id: str, as_json: bool) -> None:
    """Show a pipeline as a tree of steps with tier, provider, attempts and cost."""
    from broker.pipelines.facade import UnknownPipeline
    from broker.pipelines.tree import pipeline_tree

    try:
        record = _pipelines(ctx).record(pipeline_id)
    except UnknownPipeline:
        errors.print(f"no pipeline with id {pipeline_id!r} (never submitted, or expired)")
        sys.exit(EXIT_UNKNOWN)
    if as_json:
        runs = [run.model_dump() for group in record.runs.values() for run in group]
        click.echo(
            json.dumps(
                {"pipeline_id": pipeline_id, "status": record.status.value, "steps": runs},
                indent=2,
                default=str,
            )
        )
        return
    console.print(pipeline_tree(record))


@pipeline.command("result")
@click.argument("pipeline_id")
@click.option("--timeout", type=float, default=300.0, show_default=True)
@click.pass_context
def result(ctx: click.Context, pipeline_id: str, timeout: float) -> None:
    """Wait for a pipeline's result and print it as JSON."""
    _print_result(_pipelines(ctx), pipeline_id, timeout)


@pipeline.command("cancel")
@click.argument("pipeline_id")
@click.pass_context
def cancel(ctx: click.Context, pipeline_id: str) -> None:
    """Cancel a pipeline and its unfinished steps."""
    from broker.pipelines.facade import UnknownPipeline

    try:
        ended = _pipelines(ctx).cancel(pipeline_id)
    except UnknownPipeline:
        errors.print(f"no pipeline with id {pipeline_id!r}")
        sys.exit(EXIT_UNKNOWN)
    click.echo("cancelled" if ended else "had ended already")


@pipeline.command("drive")
@click.pass_context
def drive(ctx: click.Context) -> None:
    """Run a pipeline driver alone (workers and the API run one each already)."""
    from broker.pipelines.driver import PipelineDriver

    stop = threading.Event()
    # SIGTERM (compose, systemd) lets the advance in progress finish and releases its lock.
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        PipelineDriver(job_client(ctx)).run(stop)
    except KeyboardInterrupt:
        stop.set()
