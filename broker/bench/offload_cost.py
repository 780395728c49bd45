"""The issue-17 cost comparison: an N-line cascade batch (24 h window) offloaded to the
emulator's OpenAI Batch API by a real ``cascade offload`` poller, with a real worker for the
lines that fall back; its cost against the same answers at the synchronous price.

    python3 -m broker.bench.offload_cost --lines 10000 [--unfinished 0.3]

The emulator answers a request the same way every time, so the synchronous cost of the same
usage is what running the batch synchronously costs; the script prints both, and checks that
every line was answered exactly once (one result, one succeeding attempt) and none lost.
"""

from __future__ import annotations

import argparse
import json
import time
from contextlib import closing
from typing import Any

import httpx

from broker.batches import Batches
from broker.catalog_file import load_catalog
from broker.client import CascadeClient
from broker.jobs import CompletionResult
from broker.local_stack import LocalStack
from broker.settings import Settings
from routing.estimate import actual_cost_usd

__all__ = ["main", "run"]

MODEL = "gpt-5.4"


def _lines(count: int) -> list[dict[str, Any]]:
    return [
        {
            "custom_id": f"r{n}",
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {
                "model": MODEL,
                "max_tokens": 64,
                "messages": [{"role": "user", "content": f"Summarise ticket {n}."}],
            },
        }
        for n in range(count)
    ]


def run(lines: int, unfinished: float) -> dict[str, Any]:
    env = {
        "CASCADE_OFFLOAD_POLL_S": "0.5",
        "CASCADE_OFFLOAD_STATUS_S": "0.5",
        "CASCADE_OFFLOAD_LEASE_S": "30",
    }
    with LocalStack(extra_env=env) as stack:
        stack.start_redis()
        stack.start_emulator()
        stack.start_worker("openai", concurrency=64)
        stack.wait_for_workers()
        expire = {"expire": True, "unfinished_fraction": unfinished} if unfinished else {}
        httpx.post(
            f"{stack.emulator_url}/_emulator/batches", json={"completion_delay_s": 2.0, **expire}
        ).raise_for_status()
        settings = Settings(
            redis_url=stack.redis_url,
            profile="emulated",
            emulator_url=stack.emulator_url,
            offload_enabled=True,
        )
        catalog = load_catalog(settings.config, "emulated", emulator_url=stack.emulator_url)
        with closing(CascadeClient(settings, catalog)) as client:
            started = time.monotonic()
            record = Batches(client).submit(_lines(lines), tenant="bench", completion_window="24h")
            stack.start_offload()
            raw = client.redis.lrange(client.keys.batch_jobs(record.id), 0, -1)
            job_ids = [i.decode() if isinstance(i, bytes) else str(i) for i in raw]
            found = client.wait_many(job_ids, timeout=1800)
            elapsed = time.monotonic() - started
            return _report(client, catalog, job_ids, found, elapsed, unfinished)


def _report(
    client: CascadeClient,
    catalog: Any,
    job_ids: list[str],
    found: dict[str, Any],
    elapsed: float,
    unfinished: float,
) -> dict[str, Any]:
    model = catalog.model(MODEL)
    done = [item for item in found.values() if isinstance(item, CompletionResult)]
    via_batch = sum(1 for item in done if (item.attempts[-1].worker or "").startswith("offload:"))
    cost = sum(item.cost_usd for item in done)
    sync = sum(actual_cost_usd(model, item.usage) for item in done)
    twice = sum(1 for item in done if sum(a.outcome.value == "success" for a in item.attempts) != 1)
    return {
        "lines": len(job_ids),
        "answered": len(done),
        "lost": len(job_ids) - len(done),
        "answered_twice": twice,
        "via_provider_batch": via_batch,
        "via_synchronous_fallback": len(done) - via_batch,
        "unfinished_fraction_set": unfinished,
        "cost_usd": round(cost, 6),
        "synchronous_cost_usd": round(sync, 6),
        "cost_share": round(cost / sync, 4) if sync else None,
        "wall_s": round(elapsed, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=10_000)
    parser.add_argument(
        "--unfinished",
        type=float,
        default=0.0,
        help="let the provider batch expire with this share unfinished",
    )
    options = parser.parse_args()
    print(json.dumps(run(options.lines, options.unfinished), indent=2))


if __name__ == "__main__":
    main()
