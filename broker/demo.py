"""``cascade demo``: the whole broker on one machine, with no API keys and no Redis to install.

It starts a private Redis of its own, the provider emulator with one provider made to fail,
and one worker per provider; submits a small batch across tiers; shows progress; prints where
each job was answered; runs the catalog's example pipelines and shows each as a tree of its
steps; and stops all it started. It uses another Redis only when told to
(``--redis-url``, or ``CASCADE_REDIS_URL`` set), never merely because one answers at the default
address: that one may be someone's, and the demo's queues and jobs would land in it.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from broker.catalog_file import load_catalog
from broker.client import CascadeClient
from broker.jobs import CompletionResult, FailedResult
from broker.local_stack import LocalStack, StackError, redis_answers
from broker.pipelines.demo import run_pipeline_demo
from broker.settings import Settings

__all__ = ["FAILING_PROVIDER", "demo_jobs", "demo_redis_url", "run_demo"]

FAILING_PROVIDER = "openai"
# Short backoffs, so that the failing provider's retries play out in seconds.
_DEMO_ENV = {"CASCADE_BASE_BACKOFF_S": "0.2", "CASCADE_MAX_BACKOFF_S": "1.0"}
_PROMPTS = [
    "Summarise the plot of Hamlet in one sentence.",
    "Write a haiku about message queues.",
    "What is the capital of Australia?",
    "Explain exponential backoff to a new engineer.",
    "Translate 'good morning' into French and Spanish.",
    "Give three names for a pet tortoise.",
]


def demo_jobs(tiers: list[str], count: int) -> list[dict[str, object]]:
    """``count`` small jobs spread over ``tiers``, in the JSON form the client accepts."""
    return [
        {
            "needs": {"tier": tiers[index % len(tiers)]},
            "request": {
                "messages": [
                    {"role": "system", "content": "You are a concise assistant."},
                    {"role": "user", "content": _PROMPTS[index % len(_PROMPTS)]},
                ],
                "max_tokens": 200,
            },
            "envelope": {"tags": {"source": "cascade-demo"}},
        }
        for index in range(count)
    ]


def demo_redis_url(
    option: str | None, group_option: str | None, environ: Mapping[str, str]
) -> str | None:
    """The Redis the demo was told to use (its own ``--redis-url``, then ``cascade
    --redis-url``, then ``CASCADE_REDIS_URL``), or None: then it starts a private one."""
    return option or group_option or environ.get("CASCADE_REDIS_URL") or None


def run_demo(
    job_count: int = 12, console: Console | None = None, *, redis_url: str | None = None
) -> int:
    """Run the demo on a private Redis, or on ``redis_url``, which must answer."""
    # Wide enough for the results table even when the output is piped.
    console = console or Console(width=max(Console().width, 110))
    if redis_url is not None and not redis_answers(redis_url):
        console.print(
            f"[red]the demo could not start:[/red] no Redis answers at {redis_url}, which it "
            "was told to use (--redis-url or CASCADE_REDIS_URL); leave both out and the demo "
            "starts a private Redis of its own",
            highlight=False,
        )
        return 1
    settings = Settings()
    with tempfile.TemporaryDirectory(prefix="cascade-demo-") as workdir:
        faults = Path(workdir) / "faults.json"
        faults.write_text(
            json.dumps(
                {
                    "rules": [
                        {
                            "provider": FAILING_PROVIDER,
                            "model": "*",
                            "kind": "status",
                            "status": 503,
                        },
                    ]
                }
            )
        )
        try:
            with LocalStack(
                config=settings.config, redis_url=redis_url, emulator_config=str(faults)
            ) as stack:
                return _run(stack, job_count, console)
        except StackError as exc:
            console.print(f"[red]the demo could not start:[/red] {exc}")
            return 1


def _run(stack: LocalStack, job_count: int, console: Console) -> int:
    with console.status("starting Redis, the emulator and the workers"):
        redis_url = stack.start_redis()
        stack.start_emulator(latency_s=0.2)
        settings = Settings(
            redis_url=redis_url, profile="emulated", emulator_url=stack.emulator_url
        )
        catalog = load_catalog(settings.config, "emulated", emulator_url=stack.emulator_url)
        for provider in catalog.providers:
            stack.start_worker(provider)
        stack.wait_for_workers(timeout=60)
    console.print(
        f"Redis at {redis_url}; emulator at {stack.emulator_url}; "
        f"workers: {', '.join(catalog.providers)}"
    )
    console.print(
        f"[yellow]{FAILING_PROVIDER}[/yellow] is made to answer 503 to every call: "
        "its jobs are retried, then rerouted.\n"
    )
    client = CascadeClient(settings, catalog)
    try:
        ids = client.submit_many(demo_jobs(list(catalog.tiers), job_count))
        results = _follow(client, ids, console)
        console.print(_table(ids, results))
        console.print("\nPipelines (docs/pipelines.md): triage, validation, fan-out/join")
        pipelines_ok = run_pipeline_demo(client, console)
    finally:
        client.close()
    succeeded = sum(1 for item in results.values() if isinstance(item, CompletionResult))
    console.print(
        f"{succeeded} of {len(ids)} jobs answered; "
        f"{len(ids) - len(results)} did not finish. Everything started is now stopped."
    )
    return 0 if len(results) == len(ids) and pipelines_ok else 1


def _follow(
    client: CascadeClient, ids: list[str], console: Console, timeout: float = 120
) -> dict[str, CompletionResult | FailedResult]:
    results: dict[str, CompletionResult | FailedResult] = {}
    columns = (TextColumn("jobs"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("jobs", total=len(ids))
        deadline = time.monotonic() + timeout
        while len(results) < len(ids) and time.monotonic() < deadline:
            pending = [job_id for job_id in ids if job_id not in results]
            results.update(client.wait_many(pending, timeout=0.5))
            progress.update(task, completed=len(results))
    return results


def _table(ids: list[str], results: dict[str, CompletionResult | FailedResult]) -> Table:
    table = Table(title="results")
    for column in ("job", "tier", "answered by", "attempts", "reroutes", "tokens", "cost (USD)"):
        table.add_column(
            column,
            justify="right"
            if column in ("attempts", "reroutes", "tokens", "cost (USD)")
            else "left",
        )
    for job_id in ids:
        result = results.get(job_id)
        if result is None:
            table.add_row(job_id[:8], "?", "[red]did not finish[/red]", "", "", "", "")
            continue
        # every move to a later hop is a reroute, whether after failed calls or a skipped target
        reroutes = len({item.hop for item in result.attempts}) - 1
        first_tier = result.attempts[0].target.tier if result.attempts else "?"
        if isinstance(result, CompletionResult):
            table.add_row(
                job_id[:8],
                first_tier,
                f"{result.provider}/{result.model}",
                str(len(result.attempts)),
                str(reroutes),
                str(result.usage.total_tokens),
                f"{result.cost_usd:.6f}",
            )
        else:
            table.add_row(
                job_id[:8],
                first_tier,
                f"[red]failed: {result.error_class}[/red]",
                str(len(result.attempts)),
                str(reroutes),
                "0",
                "0",
            )
    return table
