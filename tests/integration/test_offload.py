"""Provider batch offload end to end: jobs that may wait are parked at submit, a real
``cascade offload`` poller sends them through the emulator's OpenAI Batch API and folds the
answers back under their job ids at the batch price; lines the provider expires, or has not
answered by their fall-back time, are answered by a real worker on the synchronous route; a
SIGKILLed poller's provider batch is taken over by the next one. Every job answered once."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import yaml

from broker.batches import Batches
from broker.catalog_file import load_catalog
from broker.client import CascadeClient
from broker.jobs import CompletionResult
from broker.keys import Keys
from broker.local_stack import LocalStack
from broker.settings import Settings
from routing.estimate import actual_cost_usd
from routing.usage import UsageRow, read_usage
from tests.integration.support import FAST_ENV, FIXTURE_CATALOG, Emulator, fresh_emulator, wait_for

pytestmark = pytest.mark.integration

PROMPT = {"messages": [{"role": "user", "content": "Summarise the offload."}], "max_tokens": 20}
BATCH_PRICE = {"input": 0.05, "output": 0.20}  # half of a1's price
MARGIN_S = 20.0
# Every provider batch polled at each pass; the module's worker runs no poller of its own
# (offloading is on by default in workers), so that each test decides when a poller runs.
POLLER_ENV = {"CASCADE_OFFLOAD_POLL_S": "0.3", "CASCADE_OFFLOAD_STATUS_S": "0.3",
              "CASCADE_OFFLOAD_LEASE_S": "2"}
WORKER_ENV = {**POLLER_ENV, "CASCADE_OFFLOAD_ENABLED": "0"}


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> str:
    data: dict[str, Any] = yaml.safe_load(FIXTURE_CATALOG.read_text())
    data["providers"]["alpha"]["batch"] = {
        "max_requests": 50, "max_bytes": 1_000_000, "completion_window_s": 86400}
    for model in data["models"]:
        if model["name"] == "a1":
            model["batch_price"] = BATCH_PRICE
    # an Anthropic and a Gemini provider, for the other two batch APIs
    timeouts = data["providers"]["alpha"]["timeouts"]
    batch = {"max_requests": 50, "max_bytes": 1_000_000, "completion_window_s": 86400}
    for name, wire, model_id in (("delta", "anthropic", "claude-haiku-4-5"),
                                 ("epsilon", "gemini", "gemini-2.5-flash")):
        data["providers"][name] = {"wire_format": wire, "base_url": f"https://{name}.example",
                                   "api_key_env": f"{name.upper()}_API_KEY",
                                   "timeouts": timeouts, "batch": batch}
        data["models"].append({"name": name[0] + "1", "provider": name, "model_id": model_id,
                               "context_window": 100000, "max_output_tokens": 4096,
                               "price": {"input": 1.0, "output": 5.0},
                               "batch_price": {"input": 0.5, "output": 2.5}})
    data["tiers"]["other-wires"] = {"description": "the other batch APIs", "models": ["d1", "e1"]}
    path = tmp_path_factory.mktemp("offload") / "catalog.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


@pytest.fixture(scope="module")
def stack(catalog: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    logs = tmp_path_factory.mktemp("offload-logs")
    with LocalStack(config=catalog, log_dir=logs, extra_env={**FAST_ENV, **WORKER_ENV}) as s:
        s.start_redis(appendonly=True)  # the restart test needs what Redis persisted
        s.start_emulator()
        s.start_worker("alpha", concurrency=8)
        s.wait_for_workers()
        yield s


@pytest.fixture()
def emulator(stack: LocalStack) -> Iterator[Emulator]:
    with fresh_emulator(stack) as control:
        httpx.delete(f"{stack.emulator_url}/_emulator/batches").raise_for_status()
        yield control


@pytest.fixture()
def client(stack: LocalStack, catalog: str) -> Iterator[CascadeClient]:
    settings = Settings(
        redis_url=stack.redis_url, config=catalog, profile="emulated",
        emulator_url=stack.emulator_url, offload_enabled=True,
        offload_margin_s=MARGIN_S, offload_min_wait_s=1,
    )
    loaded = load_catalog(catalog, "emulated", emulator_url=stack.emulator_url)
    with closing(CascadeClient(settings, loaded)) as made:
        made.redis.flushdb()
        yield made


def batches(stack: LocalStack, **settings: Any) -> None:
    httpx.post(f"{stack.emulator_url}/_emulator/batches", json=settings).raise_for_status()


def submit(client: CascadeClient, count: int, deadline_s: float, model: str = "a1") -> list[str]:
    deadline = datetime.now(UTC) + timedelta(seconds=deadline_s)
    return [client.submit(PROMPT, model=model, tenant="patient", deadline=deadline)
            for _ in range(count)]


def results(client: CascadeClient, ids: list[str], timeout: float) -> list[CompletionResult]:
    wait_for(lambda: all(client.get(i) is not None for i in ids), timeout, "every job answered")
    found = [client.get(i) for i in ids]
    assert all(isinstance(item, CompletionResult) for item in found), found
    return [item for item in found if isinstance(item, CompletionResult)]


def answered_with_a_poller(
    stack: LocalStack, client: CascadeClient, ids: list[str]
) -> list[CompletionResult]:
    """Start a poller, wait for every job's result, stop the poller (SIGKILL: it keeps nothing
    a later poller needs)."""
    stack.start_offload()
    try:
        return results(client, ids, 30)
    finally:
        stack.kill_offload()


def tenant_usage(client: CascadeClient) -> list[UsageRow]:
    return read_usage(client.redis, Keys(), scope="tenant", name="patient")


def text(value: bytes | str | None) -> str:
    return value.decode() if isinstance(value, bytes) else value or ""


def provider_batch_submitted(client: CascadeClient) -> bool:
    keys = Keys()
    records = client.redis.smembers(keys.offload_records())
    return any(client.redis.hexists(keys.offload_record(text(r)), "batch_id") for r in records)


def offloaded(result: CompletionResult) -> bool:
    return (result.attempts[-1].worker or "").startswith("offload:")


def test_parked_jobs_are_answered_through_the_batch_api_at_the_batch_price(
    stack: LocalStack, client: CascadeClient, emulator: Emulator
) -> None:
    batches(stack, completion_delay_s=0.5)
    ids = submit(client, 6, deadline_s=600)
    # parked, not queued: nothing runs before a poller does
    time.sleep(1.0)
    assert all(client.get(i) is None for i in ids)
    assert "offloaded" in text(client.redis.hget(Keys().job(ids[0]), "offload"))
    done = answered_with_a_poller(stack, client, ids)
    assert all(offloaded(item) for item in done)
    assert all(len(item.attempts) == 1 for item in done)
    a1 = client.catalog.model("a1")
    model = a1.model_copy(update={"price": a1.batch_price})
    for item in done:
        assert item.cost_usd == pytest.approx(actual_cost_usd(model, item.usage))
    assert emulator.calls()["by_status"].get("200", 0) <= 6
    saved = int(client.redis.hget(Keys().offload_saved(), "patient") or 0) / 1e9
    assert saved == pytest.approx(sum(item.cost_usd for item in done), rel=1e-3)  # half price
    # the caps' counters count the batch price, and the reservations are all settled
    [day] = [row for row in tenant_usage(client) if row.period.startswith("day:")]
    assert day.cost_usd == pytest.approx(sum(item.cost_usd for item in done), rel=1e-6)
    assert (day.jobs, day.reserved_usd) == (6, 0)


def test_an_expiring_batch_leaves_30_percent_unfinished_and_each_still_answered_once(
    stack: LocalStack, client: CascadeClient, emulator: Emulator
) -> None:
    batches(stack, completion_delay_s=0.5, expire=True, unfinished_fraction=0.3)
    ids = submit(client, 10, deadline_s=600)
    done = answered_with_a_poller(stack, client, ids)
    via_batch = [item for item in done if offloaded(item)]
    assert len(via_batch) == 7
    assert {item.job_id for item in done} == set(ids)
    for item in done:
        assert [a.outcome.value for a in item.attempts] == ["success"]


def test_lines_unanswered_by_their_fall_back_time_go_synchronous_before_the_deadline(
    stack: LocalStack, client: CascadeClient, emulator: Emulator
) -> None:
    batches(stack, completion_delay_s=3600)
    deadline_s = MARGIN_S + 3
    started = time.monotonic()
    ids = submit(client, 5, deadline_s=deadline_s)
    done = answered_with_a_poller(stack, client, ids)
    assert time.monotonic() - started < deadline_s
    assert not any(offloaded(item) for item in done)
    assert all(len(item.attempts) == 1 for item in done)
    fell_back = client.redis.hget(Keys().job(ids[0]), "offload_fallback")
    assert fell_back is not None


def test_a_sigkilled_poller_provider_batch_is_taken_over_and_answered_once(
    stack: LocalStack, client: CascadeClient, emulator: Emulator
) -> None:
    batches(stack, completion_delay_s=3)
    ids = submit(client, 8, deadline_s=600)
    stack.start_offload(name="first")
    keys = Keys()
    wait_for(lambda: provider_batch_submitted(client), 15, "a provider batch submitted")
    stack.kill_offload("first")
    assert all(client.get(i) is None for i in ids)
    # the offloaded work stays reserved against the caps while it is in flight
    assert all(row.reserved_usd > 0 for row in tenant_usage(client))
    stack.start_offload(name="second")
    try:
        done = results(client, ids, 30)
    finally:
        stack.kill_offload("second")
    assert all(offloaded(item) for item in done)
    assert len({item.attempts[0].worker for item in done}) == 1  # one provider batch
    assert client.redis.scard(keys.offload_records()) == 0


def test_lines_the_provider_failed_are_answered_on_the_synchronous_route(
    stack: LocalStack, client: CascadeClient, emulator: Emulator
) -> None:
    batches(stack, completion_delay_s=0.5)
    emulator.faults({"provider": "alpha", "kind": "status", "status": 500, "first_n": 2})
    ids = submit(client, 6, deadline_s=600)
    done = answered_with_a_poller(stack, client, ids)
    assert sum(offloaded(item) for item in done) == 4
    assert all(len(item.attempts) == 1 for item in done)
    reasons = [text(client.redis.hget(Keys().job(i), "offload_fallback")) for i in ids]
    assert sum("errored" in reason for reason in reasons) == 2


def test_cancelling_a_cascade_batch_cancels_its_provider_batch(
    stack: LocalStack, client: CascadeClient, emulator: Emulator
) -> None:
    batches(stack, completion_delay_s=3600)
    facade = Batches(client)
    record = facade.submit(
        [{"custom_id": f"r{n}", "method": "POST", "url": "/v1/chat/completions",
          "body": {**PROMPT, "model": "a1"}} for n in range(3)],
        tenant="patient", completion_window="24h",
    )
    stack.start_offload()
    try:
        wait_for(lambda: provider_batches(stack), 15, "the provider batch created")
        facade.cancel(record.id, tenant="patient")
        wait_for(lambda: provider_status(stack) in ("cancelling", "cancelled"), 15,
                 "the provider batch cancelled")
    finally:
        stack.kill_offload()
    assert emulator.calls()["by_status"].get("200", 0) == 0
    assert client.redis.scard(Keys().offload_records()) == 0


def provider_batches(stack: LocalStack) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = httpx.get(
        f"{stack.emulator_url}/_emulator/batches").json()["batches"]
    return listed


def provider_status(stack: LocalStack) -> str:
    """The provider batch's status as its own API tells it (the emulator runs lazily)."""
    batch_id = provider_batches(stack)[0]["id"]
    answer = httpx.get(f"{stack.emulator_url}/alpha/v1/batches/{batch_id}",
                       headers={"Authorization": "Bearer emulated"})
    return str(answer.json()["status"])


def test_a_redis_restart_while_a_provider_batch_runs_loses_and_repeats_nothing(
    stack: LocalStack, client: CascadeClient, emulator: Emulator
) -> None:
    batches(stack, completion_delay_s=3)
    ids = submit(client, 6, deadline_s=600)
    stack.start_offload()
    try:
        wait_for(lambda: provider_batch_submitted(client), 15, "a provider batch submitted")
        stack.restart_redis(down_s=1)
        done = results(client, ids, 40)
    finally:
        stack.kill_offload()
    assert all(offloaded(item) for item in done)
    assert all(len(item.attempts) == 1 for item in done)


def test_a_worker_runs_a_poller_for_its_provider_by_default(
    stack: LocalStack, client: CascadeClient, emulator: Emulator
) -> None:
    batches(stack, completion_delay_s=0.5)
    ids = submit(client, 4, deadline_s=600)
    del stack.extra_env["CASCADE_OFFLOAD_ENABLED"]  # the default: on
    try:
        stack.start_worker("alpha", name="with-poller")
    finally:
        stack.extra_env["CASCADE_OFFLOAD_ENABLED"] = "0"
    try:
        done = results(client, ids, 30)
    finally:
        stack.kill_worker("with-poller")
    assert all(offloaded(item) for item in done)


@pytest.mark.parametrize("model", ["d1", "e1"], ids=["anthropic", "gemini"])
def test_anthropic_and_gemini_batches_are_offloaded_and_folded_back_too(
    stack: LocalStack, client: CascadeClient, emulator: Emulator, model: str
) -> None:
    batches(stack, completion_delay_s=0.5)
    ids = submit(client, 3, deadline_s=600, model=model)
    done = answered_with_a_poller(stack, client, ids)
    assert all(offloaded(item) for item in done)
    priced = client.catalog.model(model)
    batch_model = priced.model_copy(update={"price": priced.batch_price})
    for item in done:
        assert item.choices[0].message.content
        assert item.cost_usd == pytest.approx(actual_cost_usd(batch_model, item.usage))
