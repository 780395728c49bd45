"""The ``cascade`` command: submit jobs, read results, run workers, the emulator, the demo."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from broker.cli_batches import api, batch, webhooks
from broker.settings import Settings

__all__ = ["main"]

EXIT_UNKNOWN_JOB = 2
EXIT_REFUSED = 3
EXIT_TIMEOUT = 4

_console = Console()
_errors = Console(stderr=True)


class _Context:
    def __init__(self, overrides: dict[str, Any]) -> None:
        self.overrides = {key: value for key, value in overrides.items() if value is not None}

    def settings(self) -> Settings:
        return Settings(**self.overrides)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", type=click.Path(dir_okay=False), help="cascade.yaml [CASCADE_CONFIG]")
@click.option("--profile", help="catalog profile, e.g. 'emulated' [CASCADE_PROFILE]")
@click.option("--redis-url", help="Redis URL [CASCADE_REDIS_URL]")
@click.pass_context
def main(
    ctx: click.Context, config: str | None, profile: str | None, redis_url: str | None
) -> None:
    """cascade: an asynchronous, queue-based inference broker."""
    ctx.obj = _Context({"config": config, "profile": profile, "redis_url": redis_url})


def _client(ctx: click.Context) -> Any:
    from broker.catalog_file import CatalogError, load_catalog
    from broker.client import CascadeClient

    settings = ctx.obj.settings()
    try:
        catalog = load_catalog(
            settings.config, settings.profile, emulator_url=settings.emulator_url
        )
    except CatalogError as exc:
        _errors.print(f"[red]error:[/red] {exc}", markup=True, highlight=False)
        sys.exit(EXIT_REFUSED)
    return CascadeClient(settings, catalog)


@main.command()
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
@click.option("--wait", is_flag=True, help="wait for the result and print it")
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
    wait: bool,
    timeout: float,
) -> None:
    """Submit one job: a PROMPT with --tier/--model, or a job file. Prints the job id."""
    from broker.client import SubmitError

    client = _client(ctx)
    try:
        if job_file is not None:
            job = client.parse_job(json.loads(Path(job_file).read_text()))
        else:
            needs: dict[str, Any] = {}
            if capabilities:
                needs["capabilities"] = [item.strip() for item in capabilities.split(",")]
            if max_cost is not None:
                needs["max_cost_usd"] = max_cost
            request: dict[str, Any] = {"messages": [{"role": "user", "content": prompt or ""}]}
            if max_tokens is not None:
                request["max_tokens"] = max_tokens
            job = client.build_job(request, tier=tier, model=model, needs=needs, tenant=tenant)
        job_id = client.submit(job)
    except (SubmitError, json.JSONDecodeError) as exc:
        _errors.print(f"refused, nothing was enqueued:\n{exc}", markup=False, highlight=False)
        sys.exit(EXIT_REFUSED)
    if not wait:
        click.echo(job_id)
        return
    _print_result(client, job_id, wait=True, timeout=timeout)


@main.command()
@click.argument("job_id")
@click.option("--wait", is_flag=True, help="wait until the job ends")
@click.option("--timeout", type=float, default=120.0, show_default=True)
@click.pass_context
def result(ctx: click.Context, job_id: str, wait: bool, timeout: float) -> None:
    """Print a job's result as JSON (or its status while it runs)."""
    _print_result(_client(ctx), job_id, wait=wait, timeout=timeout)


def _print_result(client: Any, job_id: str, *, wait: bool, timeout: float) -> None:
    from broker.client import JobTimeout, UnknownJob

    try:
        found = client.wait(job_id, timeout) if wait else client.get(job_id)
        if found is None:
            click.echo(json.dumps({"job_id": job_id, "status": client.status(job_id).value}))
            return
    except UnknownJob:
        _errors.print(f"no job with id {job_id!r} (never submitted, or expired)", markup=False)
        sys.exit(EXIT_UNKNOWN_JOB)
    except JobTimeout as exc:
        _errors.print(str(exc), markup=False)
        sys.exit(EXIT_TIMEOUT)
    click.echo(found.model_dump_json(indent=2))
    if found.status == "failed":
        sys.exit(1)


@main.group()
def dead() -> None:
    """Jobs that failed on every target of their route."""


@dead.command("list")
@click.option("--limit", type=int, default=50, show_default=True)
@click.pass_context
def dead_list(ctx: click.Context, limit: int) -> None:
    """The newest failed jobs, why each failed, and where it tried."""
    failed = _client(ctx).dead_letters(limit)
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
    _console.print(table)


@dead.command("replay")
@click.argument("job_ids", nargs=-1)
@click.option("--all", "replay_all", is_flag=True, help="replay every dead letter")
@click.pass_context
def dead_replay(ctx: click.Context, job_ids: tuple[str, ...], replay_all: bool) -> None:
    """Run failed jobs again, under the same ids, on freshly planned routes."""
    from broker.client import SubmitError, UnknownJob

    client = _client(ctx)
    if replay_all == bool(job_ids):
        raise click.UsageError("give job ids or --all, not both")
    targets = [item.job_id for item in client.dead_letters(10_000)] if replay_all else job_ids
    problems = 0
    for job_id in targets:
        try:
            replayed = client.replay(job_id)
        except (UnknownJob, SubmitError) as exc:
            _errors.print(f"{job_id}: not replayed: {exc}", markup=False)
            problems += 1
            continue
        click.echo(f"{job_id}: {'replayed' if replayed else 'not failed, left as it is'}")
    if problems:
        sys.exit(EXIT_UNKNOWN_JOB)


@main.command()
@click.pass_context
def health(ctx: click.Context) -> None:
    """Each target's circuit, recent error rate and latency; keys taken out of rotation."""
    import os

    import redis as redis_client

    from broker.catalog_file import load_catalog
    from broker.health import provider_health
    from broker.keys import Keys

    settings = ctx.obj.settings()
    catalog = load_catalog(settings.config, settings.profile, emulator_url=settings.emulator_url)
    client = redis_client.Redis.from_url(settings.redis_url)
    table = Table(title="targets (circuits shared by every worker)")
    for column in ("provider", "target", "state", "calls", "error rate", "latency", "note"):
        table.add_column(column)
    for found in provider_health(client, Keys(settings.key_prefix), catalog, os.environ):
        circuits = [("model", name, status) for name, status in found.models.items()]
        circuits += [("key", name, status) for name, status in found.keys.items()]
        for kind, name, status in circuits:
            out = found.taken_out.get(name) if kind == "key" else None
            table.add_row(
                found.provider, f"{kind} {name}", status.state.value, str(status.calls),
                f"{status.error_rate:.0%}",
                "" if status.latency_s is None else f"{status.latency_s * 1000:.0f} ms",
                f"taken out: {out.reason}" if out else "",
            )
    _console.print(table)


@main.command()
@click.pass_context
def routes(ctx: click.Context) -> None:
    """Print each tier's models in fallback order, with their queues."""
    from broker.catalog_file import load_catalog
    from routing.describe import describe_tiers

    settings = ctx.obj.settings()
    catalog = load_catalog(settings.config, settings.profile, emulator_url=settings.emulator_url)
    table = Table(title="tiers and their fallback order")
    for column in ("tier", "#", "model", "provider", "queue", "reached via"):
        table.add_column(column)
    for row in describe_tiers(catalog):
        table.add_row(
            row.tier,
            str(row.position),
            row.model,
            row.provider,
            row.queue,
            f"fallback from {row.tier}" if row.via_fallback else "",
        )
    _console.print(table)


@main.command()
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


@main.command()
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
        _errors.print(str(exc), markup=False, highlight=False)
        sys.exit(EXIT_REFUSED)
    if latency is not None:
        config = config.model_copy(
            update={"latency": config.latency.model_copy(update={"base": latency})}
        )
    run(host, port, config)


@main.command()
@click.option("--jobs", "job_count", type=int, default=12, show_default=True)
def demo(job_count: int) -> None:
    """Start Redis (embedded if none answers), the emulator and workers; run a small batch."""
    from broker.demo import run_demo

    sys.exit(run_demo(job_count))


# --- operations: metrics exporter, Flower, container health --------------------------------


def _catalog(ctx: click.Context) -> Any:
    from broker.catalog_file import CatalogError, load_catalog

    settings = ctx.obj.settings()
    try:
        return load_catalog(settings.config, settings.profile, emulator_url=settings.emulator_url)
    except CatalogError as exc:
        _errors.print(f"error: {exc}", markup=False, highlight=False)
        sys.exit(EXIT_REFUSED)


@main.command()
@click.option("--address", default="127.0.0.1", show_default=True, help="address to listen on")
@click.option("--port", type=int, default=9808, show_default=True)
@click.pass_context
def metrics(ctx: click.Context, address: str, port: int) -> None:
    """Serve Prometheus metrics read from Redis: queue lengths, unacked messages, dead letters."""
    import signal

    import redis
    import structlog
    from prometheus_client import CollectorRegistry

    from broker.keys import Keys
    from broker.logs import configure_logging
    from broker.metrics import RedisCollector, serve
    from routing.queues import all_queues

    settings = ctx.obj.settings()
    catalog = _catalog(ctx)
    registry = CollectorRegistry()
    client = redis.Redis.from_url(settings.redis_url, socket_timeout=5)
    keys = Keys(settings.key_prefix)
    registry.register(RedisCollector(client, all_queues(catalog), keys.dead_letters()))
    configure_logging()
    serve(port, address, registry)
    structlog.get_logger("cascade.metrics").info(
        "serving metrics", url=f"http://{address}:{port}/metrics"
    )
    signal.sigwait({signal.SIGINT, signal.SIGTERM})


@main.command()
@click.option("--address", default="127.0.0.1", show_default=True, help="address to listen on")
@click.option("--port", type=int, default=5555, show_default=True)
@click.option(
    "--purge-offline-after",
    "purge_offline_s",
    type=int,
    default=60,
    show_default=True,
    help="seconds after which an offline worker leaves the list",
)
@click.option("--url-prefix", default="", help="when Flower is served under a path")
@click.pass_context
def flower(
    ctx: click.Context, address: str, port: int, purge_offline_s: int, url_prefix: str
) -> None:
    """Run Flower on cascade's broker, with every queue declared; basic auth from
    CASCADE_FLOWER_BASIC_AUTH (user:password). Its /metrics has no authentication."""
    import os

    from broker.flower import FlowerConfigError, flower_environ, run_flower
    from routing.queues import all_queues

    try:
        flower_environ(os.environ, address=address)
    except FlowerConfigError as exc:
        _errors.print(f"error: {exc}", markup=False, highlight=False)
        sys.exit(EXIT_REFUSED)
    run_flower(
        ctx.obj.settings(),
        all_queues(_catalog(ctx)),
        port=port,
        address=address,
        purge_offline_s=purge_offline_s,
        url_prefix=url_prefix,
    )


@main.command()
@click.option("--provider", required=True, help="the provider whose worker on this host to ping")
@click.option("--timeout", type=float, default=3.0, show_default=True)
@click.pass_context
def ping(ctx: click.Context, provider: str, timeout: float) -> None:
    """Exit 0 if this host's worker for PROVIDER answers through the broker (a health check)."""
    from broker.health import ping_worker, worker_name

    if ping_worker(ctx.obj.settings(), provider, timeout_s=timeout):
        click.echo(f"{worker_name(provider)}: pong")
        return
    _errors.print(f"{worker_name(provider)}: no answer within {timeout:g}s", markup=False)
    sys.exit(1)


# batches, the HTTP API and webhook delivery live in broker/cli_batches.py
for _command in (batch, api, webhooks):
    main.add_command(_command)


# --- routing: explain a plan, report usage ---------------------------------------------------


def _live_state(settings: Settings, catalog: Any, tenant: str) -> tuple[Any, str]:
    """The live state for ``tenant`` read from Redis, or an empty one if Redis does not answer."""
    import redis

    from broker.keys import Keys
    from routing.circuit import CircuitPolicy
    from routing.circuit_store import CircuitBreakers
    from routing.latency import LatencyBook
    from routing.live_state import LiveStateReader
    from routing.planner import LiveState
    from routing.spend import SpendLedger

    client = redis.Redis.from_url(settings.redis_url, socket_connect_timeout=1, socket_timeout=2)
    keys = Keys(settings.key_prefix)
    reader = LiveStateReader(
        catalog,
        CircuitBreakers(client, keys, CircuitPolicy()),
        SpendLedger(client, keys, catalog),
        LatencyBook(client, keys),
    )
    try:
        state = reader.read(tenant)
    except redis.RedisError as exc:
        return LiveState(), f"live state not read (Redis: {exc}); circuits, caps, latencies ignored"
    finally:
        client.close()
    return state, "live state read from Redis: open circuits, spend caps, observed latencies"


def _route_job(options: dict[str, Any], prompt: str) -> Any:
    from pydantic import ValidationError

    from broker.jobs import CompletionJob, format_validation_error

    needs: dict[str, Any] = {
        key: value
        for key, value in {
            "tier": options["tier"],
            "model": options["model"],
            "max_cost_usd": options["max_cost"],
            "policy": options["policy"],
            "min_quality": options["min_quality"],
            "complexity_hint": options["hint"],
        }.items()
        if value is not None
    }
    if options["capabilities"]:
        needs["capabilities"] = [item.strip() for item in options["capabilities"].split(",")]
    needs["critical"] = not options["non_critical"]
    request: dict[str, Any] = {"messages": [{"role": "user", "content": prompt}]}
    if options["max_tokens"] is not None:
        request["max_tokens"] = options["max_tokens"]
    data = {"needs": needs, "request": request, "envelope": {"tenant": options["tenant"]}}
    try:
        return CompletionJob.model_validate(data)
    except ValidationError as exc:
        _errors.print(format_validation_error(exc, data), markup=False, highlight=False)
        sys.exit(EXIT_REFUSED)


@main.command("route")
@click.argument("prompt")
@click.option("--tier", help="capability tier, e.g. standard")
@click.option("--model", help="one catalog model instead of a tier")
@click.option("--needs", "capabilities", help="required capabilities, comma-separated")
@click.option("--max-cost", type=float, help="most the job may cost, in USD")
@click.option("--max-tokens", type=int, help="output token limit")
@click.option("--policy", type=click.Choice(["ordered", "cheapest", "fastest"]))
@click.option("--min-quality", type=float, help="lowest catalog quality score, 0..1")
@click.option("--hint", type=click.Choice(["simple", "complex"]), help="complexity hint")
@click.option("--tenant", default="default", show_default=True)
@click.option("--non-critical", is_flag=True, help="the job may be moved off near-cap providers")
@click.option("--live/--no-live", default=True, show_default=True,
              help="read spend caps and latencies from Redis")
@click.pass_context
def route_command(ctx: click.Context, /, prompt: str, live: bool, **options: Any) -> None:
    """Explain the plan for PROMPT: each candidate, its estimate, why it was kept or dropped."""
    from routing.estimate import prompt_token_method
    from routing.planner import LiveState, NoRoute, plan

    catalog = _catalog(ctx)
    job = _route_job(options, prompt)
    state, source = (
        _live_state(ctx.obj.settings(), catalog, job.envelope.tenant)
        if live
        else (LiveState(), "live state not read (--no-live)")
    )
    click.echo(source)
    try:
        planned = plan(job, catalog, state)
    except NoRoute as exc:
        _errors.print(f"refused: {exc.field}: {exc}", markup=False, highlight=False)
        sys.exit(EXIT_REFUSED)
    for note in planned.notes:
        click.echo(note)
    for row in sorted(planned.considered, key=_plan_order):
        place = "  -" if row.position is None else f"{row.position:3d}"
        latency = "" if row.latency_s is None else f", ~{row.latency_s:.3f}s"
        verdict = "kept" if row.reason is None else f"dropped: {row.reason}"
        click.echo(
            f"{place}  {row.model} ({row.provider}, tier {row.tier}): est. ${row.cost_usd:.6f} "
            f"for {row.prompt_tokens:,} prompt [{prompt_token_method(catalog.model(row.model))}]"
            f" + {row.output_tokens:,} output tokens{latency} -> {verdict}"
        )


def _plan_order(row: Any) -> tuple[int, int]:
    return (0, row.position) if row.position is not None else (1, 0)


@main.command()
@click.option("--scope", type=click.Choice(["tenant", "provider", "tenant_provider", "batch"]))
@click.option("--name", help="the tenant, provider (tenant/provider) or batch id")
@click.option("--period", help="day:YYYY-MM-DD, month:YYYY-MM or all (batches)")
@click.option("--json", "as_json", is_flag=True, help="print JSON rows")
@click.pass_context
def usage(
    ctx: click.Context, scope: str | None, name: str | None, period: str | None, as_json: bool
) -> None:
    """Report spend and tokens per tenant, provider, tenant/provider and batch, per period."""
    import dataclasses

    import redis

    from broker.keys import Keys
    from routing.usage import read_usage

    settings = ctx.obj.settings()
    client = redis.Redis.from_url(settings.redis_url, socket_timeout=5)
    try:
        rows = read_usage(
            client, Keys(settings.key_prefix), scope=scope, name=name, period=period
        )
    finally:
        client.close()
    if as_json:
        click.echo(json.dumps([dataclasses.asdict(row) for row in rows], indent=2))
        return
    table = Table(title="usage")
    for column in ("scope", "name", "period", "jobs", "prompt", "completion", "total tokens",
                   "cost (USD)", "reserved (USD)"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row.scope, row.name, row.period, str(row.jobs), f"{row.prompt_tokens:,}",
            f"{row.completion_tokens:,}", f"{row.total_tokens:,}", f"{row.cost_usd:.6f}",
            f"{row.reserved_usd:.6f}",
        )
    _console.print(table)


# --- performance: cascade against direct calls and LiteLLM's Router --------------------------


@main.command()
@click.option("--jobs", type=int, default=2000, show_default=True, help="jobs per leg")
@click.option("--concurrency", type=int, default=256, show_default=True, help="in flight")
@click.option("--latency", "latency_s", type=float, default=1.0, show_default=True,
              help="seconds the emulator takes per answer")
@click.option("--ramp", "ramp_s", type=click.FloatRange(min=0), show_default="the latency",
              help="seconds over which each leg opens its slots (0: all at once)")
@click.option("--repeat", type=int, default=1, show_default=True, help="runs of every leg")
@click.option("--warmup", type=int, default=64, show_default=True, help="calls before each leg")
@click.option("--workers", "worker_processes", type=int, default=lambda: os.cpu_count() or 1,
              show_default="one per CPU", help="cascade worker processes")
@click.option("--worker-concurrency", type=int,
              help="threads per worker (default: the in-flight count, as in production)")
@click.option("--enqueue-jobs", type=int, default=100_000, show_default=True,
              help="jobs of the enqueue-only batch (0: skip it)")
@click.option("--legs", default="direct,litellm,cascade", show_default=True)
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="write the report")
def bench(json_path: str | None, legs: str, **options: Any) -> None:
    """Measure cascade against direct calls to the emulator and LiteLLM's Router."""
    from broker.bench import BenchConfig, render_text, run_bench

    report = run_bench(BenchConfig(legs=tuple(legs.split(",")), **options))
    click.echo(render_text(report))
    if json_path:
        Path(json_path).write_text(json.dumps(report, indent=2))
