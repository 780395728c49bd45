"""Spend caps end to end: real Redis, real ``cascade worker`` processes, the emulator over HTTP.

Provider alpha gets a daily cap that fits only a few of a batch's jobs. The batch goes to tier
``fast`` (a1 on alpha first, b1 on beta next): once alpha's reservations reach the cap, the
rest of the batch skips alpha without calling it and is answered by beta; alpha's spend never
passes the cap; and ``cascade usage`` reports exactly what the results add up to.

Runs on database 7 of the session's Redis: Celery's queue names carry no prefix, so workers of
this module must not share a database with other modules' workers.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis

from broker.batches import Batches
from broker.catalog_file import load_catalog
from broker.client import CascadeClient
from broker.jobs import AttemptOutcome, CompletionJob, CompletionResult
from broker.local_stack import LocalStack
from broker.settings import Settings
from routing.spend import estimate_call
from tests.integration.support import FAST_ENV, catalog_with_daily_cap

pytestmark = pytest.mark.integration

FIXTURE = Path(__file__).parents[1] / "fixtures" / "catalog.yaml"
PROMPT = {"messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 50}
JOBS = 20
FITS_ON_ALPHA = 5  # the cap is set to 5.5 calls' estimates


def _a1_estimate_usd() -> float:
    catalog = load_catalog(str(FIXTURE), None)
    job = CompletionJob.model_validate({"needs": {"tier": "fast"}, "request": PROMPT})
    return estimate_call(job, catalog.model("a1")).usd


@pytest.fixture(scope="module")
def capped_catalog(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, float]:
    cap = round(_a1_estimate_usd() * (FITS_ON_ALPHA + 0.5), 9)
    return catalog_with_daily_cap(tmp_path_factory.mktemp("spend"), "alpha", cap), cap


@pytest.fixture(scope="module")
def stack(
    redis_url: str, capped_catalog: tuple[str, float], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalStack]:
    own_db = redis_url.rsplit("/", 1)[0] + "/7"
    redis.Redis.from_url(own_db).flushdb()
    logs = tmp_path_factory.mktemp("spend-logs")
    config, _ = capped_catalog
    with LocalStack(config=config, redis_url=own_db, log_dir=logs, extra_env=FAST_ENV) as s:
        s.start_redis()
        s.start_emulator()
        s.start_worker("alpha", concurrency=2)
        for provider in ("beta", "gamma"):
            s.start_worker(provider, concurrency=8)
        s.wait_for_workers()
        yield s


@pytest.fixture()
def client(stack: LocalStack, capped_catalog: tuple[str, float]) -> Iterator[CascadeClient]:
    config, _ = capped_catalog
    settings = Settings(
        redis_url=stack.redis_url,
        config=config,
        profile="emulated",
        emulator_url=stack.emulator_url,
    )
    client = CascadeClient(
        settings, load_catalog(config, "emulated", emulator_url=stack.emulator_url)
    )
    yield client
    client.close()


def _usage(stack: LocalStack, *args: str) -> list[dict[str, Any]]:
    done = subprocess.run(
        [sys.executable, "-m", "broker", "usage", "--json", *args],
        env=stack.env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    rows: list[dict[str, Any]] = json.loads(done.stdout)
    return rows


def test_a_cap_reached_mid_batch_reroutes_the_rest_and_usage_matches_the_results(
    stack: LocalStack, client: CascadeClient, capped_catalog: tuple[str, float]
) -> None:
    _, cap = capped_catalog
    # A job names only a batch of its own tenant: the batch code writes the batch and its jobs.
    batches = Batches(client)
    line = {"method": "POST", "url": "/v1/chat/completions", "body": {"model": "fast", **PROMPT}}
    batches.submit([{"custom_id": f"r{n}", **line} for n in range(JOBS)], batch_id="capped-batch")
    ids = batches.job_ids("capped-batch")
    results = client.wait_many(ids, timeout=90)

    assert sorted(results) == sorted(ids)
    answered = [r for r in results.values() if isinstance(r, CompletionResult)]
    assert len(answered) == JOBS
    on_alpha = [r for r in answered if r.provider == "alpha"]
    on_beta = [r for r in answered if r.provider == "beta"]
    assert len(on_alpha) >= FITS_ON_ALPHA and on_beta, "the cap should split the batch"
    assert len(on_alpha) + len(on_beta) == JOBS
    # Alpha's spend never passed its cap, however the calls interleaved.
    assert sum(r.cost_usd for r in on_alpha) <= cap
    # A job rerouted by the cap skipped alpha without a call: one SKIPPED attempt, no usage.
    for rerouted in on_beta:
        skipped = [a for a in rerouted.attempts if a.target.provider == "alpha"]
        assert [(a.outcome, a.error_class) for a in skipped] == [
            (AttemptOutcome.SKIPPED, "SpendCapReached")
        ]
        assert skipped[0].usage is None and skipped[0].cost_usd == 0

    batch = _usage(stack, "--scope", "batch", "--name", "capped-batch")
    assert len(batch) == 1
    assert batch[0]["jobs"] == JOBS
    assert batch[0]["cost_usd"] == pytest.approx(sum(r.cost_usd for r in answered), abs=1e-9 * JOBS)
    assert batch[0]["total_tokens"] == sum(r.usage.total_tokens for r in answered)
    assert batch[0]["reserved_usd"] == 0

    today = f"day:{datetime.now(UTC):%Y-%m-%d}"
    providers = {
        row["name"]: row for row in _usage(stack, "--scope", "provider", "--period", today)
    }
    assert providers["alpha"]["jobs"] == len(on_alpha)
    assert providers["alpha"]["cost_usd"] == pytest.approx(
        sum(r.cost_usd for r in on_alpha), abs=1e-9 * JOBS
    )
    assert providers["alpha"]["cost_usd"] <= cap
    assert providers["beta"]["jobs"] == len(on_beta)
    tenant = _usage(stack, "--scope", "tenant", "--name", "default", "--period", today)
    assert tenant[0]["cost_usd"] == pytest.approx(batch[0]["cost_usd"], abs=1e-9 * JOBS)
