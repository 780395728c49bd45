"""Routing: the tiers and their queues, a plan explained, spend and usage reported."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import click
from rich.table import Table

from broker.cli.common import EXIT_REFUSED, catalog_or_exit, console, errors
from broker.cli.tables import print_whole
from broker.settings import Settings

__all__ = ["route_command", "routes", "usage"]


@click.command()
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
    print_whole(console, table)


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
    request.update(_parameters(options["params"]))
    if options["no_offload"]:
        needs["offload"] = "never"
    if options["no_offpeak"]:
        needs["offpeak"] = "never"
    envelope: dict[str, Any] = {"tenant": options["tenant"]}
    if options["deadline_in"] is not None:
        deadline = datetime.now(UTC) + timedelta(seconds=options["deadline_in"])
        envelope["deadline"] = deadline.isoformat()
    data = {"needs": needs, "request": request, "envelope": envelope}
    try:
        return CompletionJob.model_validate(data)
    except ValidationError as exc:
        errors.print(format_validation_error(exc, data), markup=False, highlight=False)
        sys.exit(EXIT_REFUSED)


def _parameters(pairs: tuple[str, ...]) -> dict[str, Any]:
    """``--param seed=7 --param 'stop=["\\n"]'`` as request fields: JSON values, else text."""
    fields: dict[str, Any] = {}
    for pair in pairs:
        name, equals, raw = pair.partition("=")
        if not equals or not name:
            errors.print(f"--param {pair!r}: write NAME=VALUE", markup=False, highlight=False)
            sys.exit(EXIT_REFUSED)
        try:
            fields[name] = json.loads(raw)
        except ValueError:
            fields[name] = raw
    return fields


@click.command("route")
@click.argument("prompt")
@click.option("--tier", help="capability tier, e.g. standard")
@click.option("--model", help="one catalog model instead of a tier")
@click.option("--needs", "capabilities", help="required capabilities, comma-separated")
@click.option("--max-cost", type=float, help="most the job may cost, in USD")
@click.option("--max-tokens", type=int, help="output token limit")
@click.option("--policy", type=click.Choice(["ordered", "cheapest", "fastest"]))
@click.option("--min-quality", type=float, help="lowest catalog quality score, 0..1")
@click.option("--hint", type=click.Choice(["simple", "complex"]), help="complexity hint")
@click.option(
    "--param",
    "params",
    multiple=True,
    metavar="NAME=VALUE",
    help="a request parameter (VALUE as JSON), e.g. seed=7 or n=2; repeatable",
)
@click.option("--tenant", default="default", show_default=True)
@click.option("--non-critical", is_flag=True, help="the job may be moved off near-cap providers")
@click.option("--live/--no-live", default=True, show_default=True,
              help="read spend caps and latencies from Redis")
@click.option("--deadline-in", type=float, help="the job's deadline, seconds from now")
@click.option("--window", help="a batch's completion window, e.g. 24h")
@click.option("--no-offload", is_flag=True, help="the job opts out of provider batch APIs")
@click.option("--no-offpeak", is_flag=True, help="the job never waits for a cheaper price window")
@click.pass_context
def route_command(ctx: click.Context, /, prompt: str, live: bool, **options: Any) -> None:
    """Explain the plan for PROMPT: each candidate, its estimate, why it was kept or dropped."""
    from routing.estimate import prompt_token_method
    from routing.planner import LiveState, NoRoute, plan

    catalog = catalog_or_exit(ctx)
    job = _route_job(options, prompt)
    window = _window(options["window"])
    state, source = (
        _live_state(ctx.obj.settings(), catalog, job.envelope.tenant)
        if live
        else (LiveState(at=datetime.now(UTC)), "live state not read (--no-live)")
    )
    click.echo(source)
    try:
        planned = plan(job, catalog, state)
    except NoRoute as exc:
        errors.print(f"refused: {exc.field}: {exc}", markup=False, highlight=False)
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
    if planned.targets:
        click.echo(_offload_line(ctx, job, planned.targets[0], catalog, window))
        if catalog.model(planned.targets[0].model).price_windows:
            click.echo(_offpeak_line(ctx, job, planned.targets, catalog, window))


def _window(text: str | None) -> timedelta | None:
    from routing.offload import parse_window

    try:
        return parse_window(text) if text is not None else None
    except ValueError as exc:
        errors.print(f"refused: --window: {exc}", markup=False, highlight=False)
        sys.exit(EXIT_REFUSED)


def _offload_line(
    ctx: click.Context, job: Any, target: Any, catalog: Any, completion_window: timedelta | None
) -> str:
    """Whether the first target's batch API would take the job, and why."""
    from routing.offload import decide_offload

    settings = ctx.obj.settings()
    decision = decide_offload(
        job,
        target,
        catalog,
        now=datetime.now(UTC),
        margin=timedelta(seconds=settings.offload_margin_s),
        min_wait=timedelta(seconds=settings.offload_min_wait_s),
        completion_window=completion_window,
    )
    return f"offload: {decision.reason}"


def _offpeak_line(
    ctx: click.Context, job: Any, route: Any, catalog: Any, completion_window: timedelta | None
) -> str:
    """The first target's price windows, whether the job would wait for a cheaper one, and
    why (with offloading on, a job the offload line offloads does not wait)."""
    from broker.offload.choice import wait_rules
    from routing.offpeak import decide_wait
    from routing.price_windows import describe_window

    model = catalog.model(route[0].model)
    rules = wait_rules(ctx.obj.settings(), catalog)
    windows = "; ".join(describe_window(item) for item in model.price_windows)
    if rules is None:
        return f"price windows of {model.name} ({windows}): no waiting (CASCADE_OFFPEAK_ENABLED=0)"
    decision = decide_wait(
        job, route, catalog, now=datetime.now(UTC), rules=rules,
        completion_window=completion_window,
    )
    return f"price windows of {model.name} ({windows}): {decision.reason}"


def _plan_order(row: Any) -> tuple[int, int]:
    return (0, row.position) if row.position is not None else (1, 0)


@click.command()
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
    from broker.offload.state import OffloadState
    from routing.usage import read_usage
    from routing.window_savings import WindowSavings

    settings = ctx.obj.settings()
    client = redis.Redis.from_url(settings.redis_url, socket_timeout=5)
    try:
        rows = read_usage(client, Keys(settings.key_prefix), scope=scope, name=name, period=period)
        saved = OffloadState(client, Keys(settings.key_prefix)).saved()
        by_windows = WindowSavings(client, Keys(settings.key_prefix)).saved()
    finally:
        client.close()
    if as_json:
        click.echo(json.dumps([dataclasses.asdict(row) for row in rows], indent=2))
        return
    table = Table(title="usage")
    for column in (
        "scope",
        "name",
        "period",
        "jobs",
        "prompt",
        "completion",
        "total tokens",
        "cost (USD)",
        "reserved (USD)",
    ):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row.scope,
            row.name,
            row.period,
            str(row.jobs),
            f"{row.prompt_tokens:,}",
            f"{row.completion_tokens:,}",
            f"{row.total_tokens:,}",
            f"{row.cost_usd:.6f}",
            f"{row.reserved_usd:.6f}",
        )
    print_whole(console, table)
    titles = (
        (saved, "saved by offloading (batch price against synchronous, all time)"),
        (by_windows, "saved by price windows (price at submit against at the call, all time)"),
    )
    for amounts, title in titles:
        if amounts:
            savings = Table(title=title)
            savings.add_column("tenant")
            savings.add_column("saved (USD)")
            for tenant, usd in sorted(amounts.items()):
                savings.add_row(tenant, f"{usd:.6f}")
            print_whole(console, savings)
