"""The price in force at the time is what routing reckons with: the planner's estimates, budget
and price ceilings and the cheapest policy at the time its live state was read, a spend
reservation at the call's start, and the saving of a call priced below its submit-time price."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis

from broker.jobs import CompletionJob, Usage
from broker.keys import Keys
from routing.catalog import Catalog
from routing.estimate import actual_cost_usd, priced_at
from routing.planner import LiveState, plan
from routing.spend_rules import estimate_call
from routing.window_savings import WindowSavings, saving_calls
from tests.routing.factories import catalog_data

# b1 (0.20/0.80) is at a fifth of its price from 16:30 to 00:30 UTC, below a1 (0.10/0.40)
NIGHT = {"start": "16:30", "end": "00:30", "input_per_mtok": 0.02, "output_per_mtok": 0.08}
DAY = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
EVENING = datetime(2026, 12, 1, 17, 0, tzinfo=UTC)


def _catalog() -> Catalog:
    data = catalog_data()
    data["models"][1]["price_windows"] = [NIGHT]
    data["tiers"]["fast"]["policy"] = "cheapest"
    return Catalog.model_validate(data)


def _job(**needs: Any) -> CompletionJob:
    return CompletionJob.model_validate({
        "needs": {"tier": "fast", **needs},
        "request": {"messages": [{"role": "user", "content": "x" * 4000}], "max_tokens": 100},
        "envelope": {"created_at": DAY.isoformat()},
    })


def test_the_cheapest_policy_orders_by_the_price_in_force_when_the_state_was_read() -> None:
    catalog = _catalog()
    by_day = plan(_job(), catalog, LiveState(at=DAY))
    by_night = plan(_job(), catalog, LiveState(at=EVENING))
    assert [target.model for target in by_day.targets][:2] == ["a1", "b1"]
    assert [target.model for target in by_night.targets][:2] == ["b1", "a1"]
    (b1,) = [row for row in by_night.considered if row.model == "b1"]
    assert b1.cost_usd == pytest.approx((b1.prompt_tokens * 0.02 + 100 * 0.08) / 1e6)


def test_without_a_time_the_planner_uses_catalog_prices() -> None:
    assert [target.model for target in plan(_job(), _catalog()).targets][:2] == ["a1", "b1"]


def test_a_budget_and_a_price_ceiling_are_checked_at_the_price_in_force() -> None:
    job = _job(max_price={"input": 0.1})
    by_day = plan(job, _catalog(), LiveState(at=DAY))
    by_night = plan(job, _catalog(), LiveState(at=EVENING))
    assert "b1" not in [target.model for target in by_day.targets]
    assert "b1" in [target.model for target in by_night.targets]


def test_a_reservation_is_the_ceiling_at_the_price_of_the_calls_start() -> None:
    model = _catalog().model("b1")
    by_day, by_night = estimate_call(_job(), model), estimate_call(_job(), priced_at(model,
                                                                                    EVENING))
    assert by_night.usd == pytest.approx(by_day.usd / 10) and by_night.tokens == by_day.tokens


def test_a_call_below_its_submit_time_price_counts_what_it_saved() -> None:
    catalog = _catalog()
    savings = WindowSavings(redis.Redis(), Keys("window-savings-test"))  # no call is sent
    usage = Usage(prompt_tokens=1000, completion_tokens=100, total_tokens=1100)
    at_call = priced_at(catalog.model("b1"), EVENING)
    cost = actual_cost_usd(at_call, usage)

    (call,) = saving_calls(savings, catalog, _job(), at_call, usage, cost)
    full = actual_cost_usd(catalog.model("b1"), usage)
    assert list(call.args) == ["default", round((full - cost) * 1e9)]
    same_time = priced_at(catalog.model("b1"), DAY + timedelta(minutes=5))
    assert saving_calls(savings, catalog, _job(), same_time, usage, full) == []
    assert saving_calls(savings, catalog, _job(), catalog.model("a1"), usage, 1.0) == []
