"""Time-of-day prices end to end, with a real worker, a real Redis and the emulator over HTTP:
a model whose half-price window opens a few seconds after the worker starts. A deferrable job
waits in Redis (not in a worker) and runs once the window opens, billed at the window price,
with the saving counted; an interactive job and one whose deadline is too close run at once
at the catalog price; a batch cancelled while it waits for the window is never called."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml

from broker.batches import Batches
from broker.catalog_file import load_catalog
from broker.client import CascadeClient
from broker.job_notes import job_notes
from broker.jobs import CompletionResult
from broker.keys import Keys
from broker.local_stack import LocalStack
from broker.scheduler import DeferredJobs
from broker.settings import Settings
from routing.estimate import actual_cost_usd, priced_at
from routing.usage import read_usage
from routing.window_savings import WindowSavings
from tests.integration.support import FAST_ENV, FIXTURE_CATALOG, Emulator, wait_for

pytestmark = pytest.mark.integration

PROMPT = {"messages": [{"role": "user", "content": "Summarise the night shift."}],
          "max_tokens": 20}
LEAD_S = 25.0  # from just before the worker starts to the window's opening
MARGIN_S = 20.0


@pytest.fixture(scope="module")
def opens(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalStack, datetime]]:
    """The stack, and when a1's half-price window opens (a whole second, in UTC)."""
    path = tmp_path_factory.mktemp("offpeak") / "catalog.yaml"
    path.write_text(FIXTURE_CATALOG.read_text())
    logs = tmp_path_factory.mktemp("offpeak-logs")
    with LocalStack(config=str(path), log_dir=logs, extra_env=FAST_ENV) as stack:
        stack.start_redis()
        stack.start_emulator()
        # written just before the worker reads it: the window opens LEAD_S from now, for an
        # hour (across midnight UTC if it comes to that)
        at = (datetime.now(UTC) + timedelta(seconds=LEAD_S)).replace(microsecond=0)
        data: dict[str, Any] = yaml.safe_load(FIXTURE_CATALOG.read_text())
        window = {"start": at.strftime("%H:%M:%S"), "multiplier": 0.5, "name": "night",
                  "end": (at + timedelta(hours=1)).strftime("%H:%M:%S")}
        data["models"][0]["price_windows"] = [window]
        path.write_text(yaml.safe_dump(data))
        stack.start_worker("alpha", concurrency=4)
        stack.wait_for_workers()
        yield stack, at


@pytest.fixture()
def client(opens: tuple[LocalStack, datetime]) -> Iterator[CascadeClient]:
    stack, _ = opens
    assert stack.config is not None
    settings = Settings(
        redis_url=stack.redis_url, config=stack.config, profile="emulated",
        emulator_url=stack.emulator_url, offpeak_margin_s=MARGIN_S, offpeak_min_deadline_s=10,
        api_max_wait_s=5,
    )
    loaded = load_catalog(stack.config, "emulated", emulator_url=stack.emulator_url)
    with closing(CascadeClient(settings, loaded)) as made:
        yield made


def submit(client: CascadeClient, deadline: datetime, **envelope: Any) -> str:
    return client.submit(PROMPT, model="a1", deadline=deadline, **envelope)


def answered(client: CascadeClient, job_id: str, timeout: float) -> CompletionResult:
    wait_for(lambda: client.get(job_id) is not None, timeout, f"job {job_id} answered")
    found = client.get(job_id)
    assert isinstance(found, CompletionResult), found
    return found


def cascade_queues(stack: LocalStack) -> str:
    shown = subprocess.run([sys.executable, "-m", "broker", "queues"], capture_output=True,
                           text=True, env={**stack.env(), "COLUMNS": "200"}, timeout=60,
                           check=False)
    assert shown.returncode == 0, shown.stderr
    return shown.stdout


@pytest.mark.system
@pytest.mark.timeout(120)
def test_a_deferrable_job_waits_for_the_window_and_the_others_run_now_at_the_catalog_price(
    opens: tuple[LocalStack, datetime], client: CascadeClient
) -> None:
    stack, at = opens
    emulator = Emulator(stack.emulator_url)
    now = datetime.now(UTC)
    assert at - now > timedelta(seconds=5), "the stack took too long to start for this test"
    an_hour = now + timedelta(hours=1)

    waiting = submit(client, an_hour, priority="bulk")
    urgent = submit(client, an_hour, priority="interactive")
    # the window opens before this deadline, but after its margin: no time to wait for it
    close = submit(client, at + timedelta(seconds=MARGIN_S - 10), priority="bulk")
    batches = Batches(client)
    lines = [{"custom_id": f"r{i}", "method": "POST", "url": "/v1/chat/completions",
              "body": {"model": "a1", **PROMPT}} for i in range(2)]
    batch = batches.submit(lines, completion_window="24h")

    # the interactive and the close job are answered at once, at the catalog price
    model = client.catalog.model("a1")
    for job_id in (urgent, close):
        result = answered(client, job_id, 15)
        assert result.attempts[-1].started_at < at
        assert result.cost_usd == pytest.approx(actual_cost_usd(model, result.usage))
    assert "starts after" in job_notes(client.redis, client.keys, close)["offpeak"]
    assert job_notes(client.redis, client.keys, urgent)["offpeak"].startswith(
        "runs now: interactive")

    # the deferrable job and the batch's lines wait in Redis, visible as such
    notes = job_notes(client.redis, client.keys, waiting)
    assert notes["offpeak"].startswith("waits for the night window at ")
    assert "saves ~50%" in notes["offpeak"]
    assert notes["not_before"] == at.isoformat()
    assert client.status(waiting).value == "queued"
    assert DeferredJobs(client.redis, client.keys).counts(["fast.alpha"])["fast.alpha"][0] == 3
    shown = cascade_queues(stack)
    assert "waiting for a price window (cheaper, opens later): fast.alpha 3" in shown
    batches.cancel(batch.id)
    assert emulator.answered() == 2

    # the window opens: the job runs then, at half price
    result = answered(client, waiting, (at - datetime.now(UTC)).total_seconds() + 15)
    assert result.attempts[-1].started_at >= at
    in_window = priced_at(model, at)
    assert in_window.price.input == model.price.input / 2
    assert result.cost_usd == pytest.approx(actual_cost_usd(in_window, result.usage))

    # billed so in usage, with what the window saved, and the cancelled lines never called
    time.sleep(1.5)  # a dispatcher sweep after the opening: the cancelled lines are dropped
    assert emulator.answered() == 3
    assert DeferredJobs(client.redis, client.keys).counts(["fast.alpha"])["fast.alpha"][0] == 0
    assert client.redis.hlen(client.keys.sched_messages("fast.alpha")) == 0
    rows = read_usage(client.redis, Keys(), scope="tenant", name="default")
    spent = sum(row.cost_usd for row in rows if row.period.startswith("day:"))
    costs = [answered(client, job_id, 1).cost_usd for job_id in (waiting, urgent, close)]
    assert spent == pytest.approx(sum(costs), abs=1e-9)
    saved = WindowSavings(client.redis, Keys()).saved()
    assert saved["default"] == pytest.approx(
        actual_cost_usd(model, result.usage) - result.cost_usd, abs=1e-9)
