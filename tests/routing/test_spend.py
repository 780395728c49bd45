"""Spend caps and usage counters against a real Redis: reserve, settle, release, standing.

Uses database 6 of the session's Redis server, flushed before each test.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import redis

from broker.jobs import CompletionJob, TargetRef, Usage
from broker.keys import Keys
from broker.script_batch import run_script
from routing.catalog import Catalog, SpendCaps
from routing.latency import LatencyBook, ewma
from routing.planner import LiveState, plan
from routing.spend import CallEstimate, CapLevel, SpendLedger, assess_caps, estimate_call
from routing.usage import read_usage
from tests.routing.factories import catalog, catalog_data, job

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
A1 = TargetRef(
    provider="alpha", model="a1", model_id="alpha-small-1", tier="fast", queue="fast.alpha"
)
B1 = TargetRef(provider="beta", model="b1", model_id="beta-fast-1", tier="fast", queue="fast.beta")
ONE_CENT = CallEstimate(usd=0.01, tokens=100)


@pytest.fixture()
def client(redis_url: str) -> Iterator[redis.Redis]:
    connection = redis.Redis.from_url(redis_url.rsplit("/", 1)[0] + "/6")
    connection.flushdb()
    yield connection
    connection.close()


def _catalog(provider_caps: dict[str, Any] | None = None, **tenant_caps: Any) -> Catalog:
    data = catalog_data()
    if provider_caps is not None:
        data["providers"]["alpha"]["spend_caps"] = provider_caps
    data["tenant_caps"] = tenant_caps
    return catalog(data)


def _ledger(client: redis.Redis, loaded: Catalog) -> SpendLedger:
    return SpendLedger(client, Keys("t"), loaded)


def _job(**needs: Any) -> CompletionJob:
    return job(needs={"tier": "fast", **needs})


# --- the pure rule --------------------------------------------------------------------------


def test_assess_caps_is_ok_below_near_and_capped_past_the_cap() -> None:
    caps = SpendCaps(usd_per_day=1.0, near_fraction=0.9)
    assert assess_caps(caps, "day", 0.5, 0, ONE_CENT)[0] is CapLevel.OK
    assert assess_caps(caps, "day", 0.895, 0, ONE_CENT)[0] is CapLevel.NEAR
    level, reason = assess_caps(caps, "day", 0.995, 0, ONE_CENT)
    assert level is CapLevel.CAPPED
    assert reason == "usd_per_day cap reached ($0.995000 of $1.000000)"
    assert assess_caps(caps, "month", 5.0, 0, ONE_CENT)[0] is CapLevel.OK
    assert assess_caps(None, "day", 1e9, 10**9, ONE_CENT)[0] is CapLevel.OK


def test_token_caps_count_tokens() -> None:
    caps = SpendCaps(tokens_per_month=1000)
    assert assess_caps(caps, "month", 0, 950, ONE_CENT)[0] is CapLevel.CAPPED


def test_the_call_estimate_reserves_the_prompts_ceiling_and_every_choices_output_limit() -> None:
    model = catalog().model("a1")
    estimate = estimate_call(job("Say hello.", max_tokens=100, n=2), model)
    prompt = 3 + 8 + len("Say hello.")  # priming, one message's framing, a token per byte
    assert estimate.tokens == prompt + 200
    assert estimate.usd == pytest.approx((prompt * 0.10 + 200 * 0.40) / 1e6)


def test_without_max_tokens_the_call_estimate_reserves_the_models_output_limit() -> None:
    model = catalog().model("a1")  # max_output_tokens 4096
    estimate = estimate_call(job("Say hello."), model)
    assert estimate.tokens == 3 + 8 + len("Say hello.") + 4096


# --- reserve, settle, release ---------------------------------------------------------------


def test_a_call_under_every_cap_is_allowed_and_reserved(client: redis.Redis) -> None:
    ledger = _ledger(client, _catalog({"usd_per_day": 1.0}))
    grant = ledger.reserve(_job(), A1, hold_id="j1:0:1", estimate=ONE_CENT, now=NOW)
    assert grant.allowed and not grant.near and grant.reason is None
    rows = read_usage(client, Keys("t"), scope="provider", name="alpha", period="day:2026-11-25")
    assert rows[0].reserved_usd == pytest.approx(0.01) and rows[0].cost_usd == 0


def test_a_call_that_would_pass_the_cap_is_refused_and_reserves_nothing(
    client: redis.Redis,
) -> None:
    ledger = _ledger(client, _catalog({"usd_per_day": 0.015}))
    assert ledger.reserve(_job(), A1, hold_id="h1", estimate=ONE_CENT, now=NOW).allowed
    second = ledger.reserve(_job(), A1, hold_id="h2", estimate=ONE_CENT, now=NOW)
    assert not second.allowed
    assert second.reason == (
        "spend cap: this call would take provider 'alpha' past its usd_per_day cap "
        "($0.010000 spent or reserved of $0.015000)"
    )
    rows = read_usage(client, Keys("t"), scope="provider", period="day:2026-11-25")
    assert rows[0].reserved_usd == pytest.approx(0.01)


def test_a_refusal_for_now_says_when_the_caps_window_ends(client: redis.Redis) -> None:
    ledger = _ledger(client, _catalog({"usd_per_day": 0.015, "usd_per_month": 10.0}))
    ledger.reserve(_job(), A1, hold_id="h1", estimate=ONE_CENT, now=NOW)
    refused = ledger.reserve(_job(), A1, hold_id="h2", estimate=ONE_CENT, now=NOW)
    assert not refused.allowed and not refused.lasting
    assert refused.resets_at == datetime(2026, 11, 26, tzinfo=UTC)  # the UTC day's end


def test_a_month_caps_refusal_ends_with_the_calendar_month(client: redis.Redis) -> None:
    ledger = _ledger(client, _catalog({"usd_per_month": 0.015}))
    ledger.reserve(_job(), A1, hold_id="h1", estimate=ONE_CENT, now=NOW)
    refused = ledger.reserve(_job(), A1, hold_id="h2", estimate=ONE_CENT, now=NOW)
    assert refused.resets_at == datetime(2026, 12, 1, tzinfo=UTC)


def test_a_call_whose_reservation_alone_is_above_the_cap_is_refused_as_lasting(
    client: redis.Redis,
) -> None:
    ledger = _ledger(client, _catalog({"usd_per_day": 0.005}))
    refused = ledger.reserve(_job(), A1, hold_id="h1", estimate=ONE_CENT, now=NOW)
    assert not refused.allowed and refused.lasting
    assert refused.reason is not None and "no window can allow it" in refused.reason


def test_near_the_cap_a_non_critical_call_is_refused_and_a_critical_one_allowed(
    client: redis.Redis,
) -> None:
    ledger = _ledger(client, _catalog({"usd_per_day": 0.1, "near_fraction": 0.5}))
    ledger.reserve(_job(), A1, hold_id="h0", estimate=CallEstimate(0.045, 1), now=NOW)
    relaxed = ledger.reserve(_job(critical=False), A1, hold_id="h1", estimate=ONE_CENT, now=NOW)
    assert not relaxed.allowed and relaxed.near
    assert relaxed.reason is not None and "is near its usd_per_day cap" in relaxed.reason
    critical = ledger.reserve(_job(), A1, hold_id="h2", estimate=ONE_CENT, now=NOW)
    assert critical.allowed and critical.near


def test_a_tenant_cap_holds_across_providers(client: redis.Redis) -> None:
    ledger = _ledger(client, _catalog(**{"*": {"usd_per_month": 0.015}}))
    assert ledger.reserve(_job(), A1, hold_id="h1", estimate=ONE_CENT, now=NOW).allowed
    refused = ledger.reserve(_job(), B1, hold_id="h2", estimate=ONE_CENT, now=NOW)
    assert not refused.allowed
    assert refused.reason is not None and "tenant 'default'" in refused.reason
    other = job(needs={"tier": "fast"}).model_copy(
        update={"envelope": job().envelope.model_copy(update={"tenant": "other"})}
    )
    assert ledger.reserve(other, B1, hold_id="h3", estimate=ONE_CENT, now=NOW).allowed


def test_settle_swaps_the_reservation_for_the_actual_usage_in_every_scope(
    client: redis.Redis,
) -> None:
    ledger = _ledger(client, _catalog({"usd_per_day": 1.0}))
    batch_job = job(needs={"tier": "fast"}).model_copy(
        update={"envelope": job().envelope.model_copy(update={"batch_id": "b-1"})}
    )
    ledger.reserve(batch_job, A1, hold_id="h1", estimate=ONE_CENT, now=NOW)
    usage = Usage(prompt_tokens=10, completion_tokens=5, total_tokens=15)
    assert ledger.settle(batch_job, A1, usage, 0.002, hold_id="h1", now=NOW)
    rows = {
        (row.scope, row.name, row.period): row for row in read_usage(client, Keys("t"), now=NOW)
    }
    assert set(rows) == {
        ("provider", "alpha", "day:2026-11-25"),
        ("provider", "alpha", "month:2026-11"),
        ("tenant", "default", "day:2026-11-25"),
        ("tenant", "default", "month:2026-11"),
        ("tenant_provider", "default/alpha", "day:2026-11-25"),
        ("tenant_provider", "default/alpha", "month:2026-11"),
        ("batch", "b-1", "all"),
    }
    for row in rows.values():
        assert (row.cost_usd, row.total_tokens, row.jobs) == (0.002, 15, 1)
        assert (row.reserved_usd, row.reserved_tokens) == (0, 0)


def test_settling_the_same_call_twice_counts_it_once(client: redis.Redis) -> None:
    ledger = _ledger(client, _catalog())
    ledger.reserve(_job(), A1, hold_id="h1", estimate=ONE_CENT, now=NOW)
    usage = Usage(prompt_tokens=10, completion_tokens=5, total_tokens=15)
    assert ledger.settle(_job(), A1, usage, 0.002, hold_id="h1", now=NOW)
    assert not ledger.settle(_job(), A1, usage, 0.002, hold_id="h1", now=NOW)
    row = read_usage(client, Keys("t"), scope="tenant", period="day:2026-11-25")[0]
    assert (row.jobs, row.cost_usd) == (1, 0.002)


def test_a_settled_calls_hold_is_deleted_not_kept_as_a_marker(client: redis.Redis) -> None:
    ledger = _ledger(client, _catalog())
    ledger.reserve(_job(), A1, hold_id="h1", estimate=ONE_CENT, now=NOW)
    assert client.exists(Keys("t").spend_hold("h1"))
    usage = Usage(prompt_tokens=10, completion_tokens=5, total_tokens=15)
    assert ledger.settle(_job(), A1, usage, 0.002, hold_id="h1", now=NOW)
    assert not client.exists(Keys("t").spend_hold("h1"))


def test_a_lost_call_is_counted_at_its_reservation_and_nothing_stays_reserved(
    client: redis.Redis,
) -> None:
    ledger = _ledger(client, _catalog({"usd_per_day": 1.0}))
    ledger.reserve(_job(), A1, hold_id="h1", estimate=ONE_CENT, now=NOW)
    lost = ledger.settle_lost_call(_job(), A1, hold_id="h1", now=NOW)
    assert run_script(client, lost)
    for row in read_usage(client, Keys("t"), period="day:2026-11-25"):
        assert (row.cost_usd, row.total_tokens, row.jobs, row.lost_calls) == (0.01, 100, 0, 1)
        assert (row.reserved_usd, row.reserved_tokens) == (0, 0)
    # Counted once: a second look at the same lost call, or its own late settle, adds nothing.
    assert not run_script(client, ledger.settle_lost_call(_job(), A1, hold_id="h1", now=NOW))
    usage = Usage(prompt_tokens=10, completion_tokens=5, total_tokens=15)
    assert not ledger.settle(_job(), A1, usage, 0.002, hold_id="h1", now=NOW)
    row = read_usage(client, Keys("t"), scope="tenant", period="day:2026-11-25")[0]
    assert (row.cost_usd, row.lost_calls, row.jobs) == (0.01, 1, 0)


def test_each_periods_usage_index_expires_a_day_after_the_rows_it_lists(
    client: redis.Redis,
) -> None:
    ledger = _ledger(client, _catalog())
    batch_job = job(needs={"tier": "fast"}).model_copy(
        update={"envelope": job().envelope.model_copy(update={"batch_id": "b-1"})}
    )
    ledger.reserve(batch_job, A1, hold_id="h1", estimate=ONE_CENT, now=NOW)
    usage = Usage(prompt_tokens=10, completion_tokens=5, total_tokens=15)
    ledger.settle(batch_job, A1, usage, 0.002, hold_id="h1", now=NOW)
    keys = Keys("t")
    for period, row_ttl in (
        ("day:2026-11-25", ledger.ttl["day"]),
        ("month:2026-11", ledger.ttl["month"]),
        ("all:2026-11-25", ledger.ttl["all"]),
    ):
        ttl = client.ttl(keys.usage_index(period))
        assert row_ttl < ttl <= row_ttl + 86_400, period
    assert client.ttl(keys.usage("batch", "b-1", "all")) <= ledger.ttl["all"]


def test_a_usage_hash_gets_its_labels_ttl_and_index_entry_from_the_call_that_creates_it(
    client: redis.Redis,
) -> None:
    # Written once, not by every call (issue 18: five commands fewer per hash per call); a hash
    # the settle creates (a scope no reservation touched) is labelled and indexed as well.
    ledger = _ledger(client, _catalog())
    usage = Usage(prompt_tokens=10, completion_tokens=5, total_tokens=15)
    for number in range(3):
        hold = f"h{number}"
        ledger.reserve(_job(), A1, hold_id=hold, estimate=ONE_CENT, now=NOW)
        assert ledger.settle(_job(), A1, usage, 0.002, hold_id=hold, now=NOW)
    keys = Keys("t")
    for scope, name in (("provider", "alpha"), ("tenant_provider", "default/alpha")):
        key = keys.usage(scope, name, "day:2026-11-25")
        assert client.hget(key, "scope") == scope.encode()
        assert client.hget(key, "period") == b"day:2026-11-25"
        assert 0 < client.ttl(key) <= ledger.ttl["day"]
        assert client.sismember(keys.usage_index("day:2026-11-25"), key)
    rows = read_usage(client, Keys("t"), now=NOW)
    assert {row.jobs for row in rows} == {3}


def test_release_gives_a_failed_calls_reservation_back(client: redis.Redis) -> None:
    ledger = _ledger(client, _catalog({"usd_per_day": 0.015}))
    ledger.reserve(_job(), A1, hold_id="h1", estimate=ONE_CENT, now=NOW)
    assert ledger.release("h1")
    assert not ledger.release("h1")
    assert ledger.reserve(_job(), A1, hold_id="h2", estimate=ONE_CENT, now=NOW).allowed


def test_concurrent_reservations_never_pass_the_cap_together(client: redis.Redis) -> None:
    ledger = _ledger(client, _catalog({"usd_per_day": 0.105}))
    grants: list[bool] = []
    barrier = threading.Barrier(40)

    def ask(index: int) -> None:
        barrier.wait()
        grant = ledger.reserve(_job(), A1, hold_id=f"h{index}", estimate=ONE_CENT, now=NOW)
        grants.append(grant.allowed)

    threads = [threading.Thread(target=ask, args=(index,)) for index in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert grants.count(True) == 10


# --- standing feeds the planner ---------------------------------------------------------------


def test_standing_marks_capped_and_near_providers_and_the_planner_drops_them(
    client: redis.Redis,
) -> None:
    loaded = _catalog({"usd_per_day": 0.02, "near_fraction": 0.5})
    ledger = _ledger(client, loaded)
    ledger.reserve(_job(), A1, hold_id="h1", estimate=ONE_CENT, now=NOW)
    standing = ledger.standing("default", now=NOW)
    assert set(standing.near_cap) == {"alpha"} and standing.capped == {}
    state = LiveState(capped=standing.capped, near_cap=standing.near_cap)
    assert [t.model for t in plan(_job(critical=False), loaded, state).targets][0] == "b1"
    ledger.reserve(_job(), A1, hold_id="h2", estimate=ONE_CENT, now=NOW)
    assert set(ledger.standing("default", now=NOW).capped) == {"alpha"}


# --- latency ----------------------------------------------------------------------------------


def test_latency_is_an_ewma_per_provider_and_model(client: redis.Redis) -> None:
    book = LatencyBook(client, Keys("t"), alpha=0.5)
    book.observe("alpha", "a1", 1.0)
    assert book.observe("alpha", "a1", 3.0) == pytest.approx(ewma(1.0, 3.0, 0.5)) == 2.0
    book.observe("beta", "b1", 0.25)
    assert book.snapshot() == {("alpha", "a1"): 2.0, ("beta", "b1"): 0.25}
