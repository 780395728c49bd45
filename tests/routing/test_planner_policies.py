"""Cost- and capability-aware planning: policies, quality, spend caps, escalation, explanations.

The test catalog (tests/routing/factories.py): tier ``fast`` = a1 ($0.10/$0.40, alpha) and b1
($0.20/$0.80, beta), falling back to ``smart`` = g1 ($3/$15, gamma) and b2 ($2/$8, beta).
"""

from __future__ import annotations

from typing import Any

import pytest

from routing.catalog import Catalog
from routing.planner import LiveState, NoRoute, Route, plan
from tests.routing.factories import catalog, catalog_data, job


def _models(route: Route) -> list[str]:
    return [target.model for target in route.targets]


def _with(**tier_fields: Any) -> Catalog:
    data = catalog_data()
    for tier, fields in tier_fields.items():
        data["tiers"][tier].update(fields)
    return catalog(data)


def _quality(**scores: float) -> Catalog:
    data = catalog_data()
    for model in data["models"]:
        if model["name"] in scores:
            model["quality"] = scores[model["name"]]
    return catalog(data)


# --- policies -------------------------------------------------------------------------------


def test_cheapest_orders_each_tier_by_estimated_cost_keeping_tier_order() -> None:
    loaded = _with(fast={"models": ["b1", "a1"]}, smart={"policy": "cheapest"})
    route = plan(job(needs={"tier": "fast", "policy": "cheapest"}), loaded)
    # b2 ($2/$8) is cheaper than g1 ($3/$15), but the fallback tier still comes second
    assert _models(route) == ["a1", "b1", "b2", "g1"]


def test_a_tiers_own_policy_applies_when_the_job_names_none() -> None:
    loaded = _with(smart={"policy": "cheapest"})
    assert _models(plan(job(), loaded)) == ["a1", "b1", "b2", "g1"]


def test_the_jobs_policy_overrides_the_tiers() -> None:
    loaded = _with(smart={"policy": "cheapest"})
    assert _models(plan(job(needs={"tier": "fast", "policy": "ordered"}), loaded)) == [
        "a1", "b1", "g1", "b2"]


def test_cheapest_ties_keep_the_declared_order() -> None:
    data = catalog_data()
    data["models"][1]["price"] = dict(data["models"][0]["price"])  # b1 now costs what a1 does
    data["tiers"]["fast"]["models"] = ["b1", "a1"]
    route = plan(job(needs={"tier": "fast", "policy": "cheapest"}), catalog(data))
    assert _models(route)[:2] == ["b1", "a1"]


def test_fastest_orders_by_observed_latency_and_unobserved_targets_go_last() -> None:
    state = LiveState(latencies={("beta", "b1"): 0.3, ("alpha", "a1"): 0.9, ("beta", "b2"): 1.0})
    route = plan(job(needs={"tier": "fast", "policy": "fastest"}), catalog(), state)
    assert _models(route) == ["b1", "a1", "b2", "g1"]


# --- quality --------------------------------------------------------------------------------


def test_min_quality_drops_models_below_it_and_models_without_a_score() -> None:
    loaded = _quality(a1=0.5, b1=0.8, g1=0.95)
    route = plan(job(needs={"tier": "fast", "min_quality": 0.8}), loaded)
    assert _models(route) == ["b1", "g1"]
    reasons = {item.model: item.reason for item in route.dropped}
    assert reasons == {"a1": "quality 0.5 < min_quality 0.8",
                       "b2": "has no quality score; min_quality is 0.8"}


def test_cheapest_within_budget_and_quality_is_the_first_target() -> None:
    loaded = _quality(a1=0.5, b1=0.8, g1=0.95, b2=0.9)
    needs = {"tier": "smart", "policy": "cheapest", "min_quality": 0.85, "max_cost_usd": 0.01}
    route = plan(job(needs=needs), loaded)
    # g1 would cost ~$0.0154 for 1,024 output tokens: over budget; b2 ~$0.0082 is kept
    assert _models(route) == ["b2"]


# --- spend caps -----------------------------------------------------------------------------


def test_a_provider_at_its_cap_is_dropped_with_the_reason() -> None:
    state = LiveState(capped={"beta": "spend: provider 'beta' usd_per_day cap reached"})
    route = plan(job(), catalog(), state)
    assert _models(route) == ["a1", "g1"]
    assert {item.model for item in route.dropped} == {"b1", "b2"}
    assert route.dropped[0].reason == "spend: provider 'beta' usd_per_day cap reached"


def test_near_a_cap_non_critical_jobs_avoid_the_provider_and_critical_ones_do_not() -> None:
    state = LiveState(near_cap={"alpha": "near its usd_per_day cap"})
    relaxed = plan(job(needs={"tier": "fast", "critical": False}), catalog(), state)
    assert _models(relaxed) == ["b1", "g1", "b2"]
    assert relaxed.dropped[0].reason == "near its usd_per_day cap; the job is not critical"
    assert _models(plan(job(), catalog(), state)) == ["a1", "b1", "g1", "b2"]


def test_a_tenant_near_its_cap_sends_non_critical_jobs_cheapest_first() -> None:
    loaded = _with(fast={"models": ["b1", "a1"]})
    state = LiveState(tenant_near_cap="tenant near its cap")
    relaxed = plan(job(needs={"tier": "fast", "critical": False}), loaded, state)
    assert _models(relaxed) == ["a1", "b1", "b2", "g1"]
    assert _models(plan(job(), loaded, state)) == ["b1", "a1", "g1", "b2"]


def test_every_provider_capped_for_now_plans_the_job_to_be_held_not_refused() -> None:
    state = LiveState(capped={name: f"{name} capped" for name in ("alpha", "beta", "gamma")})
    route = plan(job(), catalog(), state)
    assert _models(route) == ["a1", "b1", "g1", "b2"]
    assert route.dropped == ()
    assert "spend cap is reached for now: the job is held" in route.notes[0]


def test_a_real_alternative_wins_over_holding_for_a_capped_provider() -> None:
    route = plan(job(), catalog(), LiveState(capped={"alpha": "alpha capped"}))
    assert _models(route) == ["b1", "g1", "b2"]
    assert route.notes == ()


def test_only_near_cap_targets_hold_a_non_critical_job_rather_than_refuse_it() -> None:
    state = LiveState(near_cap={name: "near" for name in ("alpha", "beta", "gamma")})
    route = plan(job(needs={"tier": "fast", "critical": False}), catalog(), state)
    assert _models(route) == ["a1", "b1", "g1", "b2"]


def _capped(provider: str, **caps: float) -> Catalog:
    data = catalog_data()
    data["providers"][provider]["spend_caps"] = caps
    return catalog(data)


def test_a_cap_no_window_can_pass_drops_the_target_for_good() -> None:
    # a1's ceiling for 1,000 output tokens at $0.40/M is $0.0004, above a $0.0001 daily cap
    capped = _capped("alpha", usd_per_day=0.0001)
    route = plan(job(max_tokens=1000), capped, LiveState(capped={"alpha": "alpha capped"}))
    assert _models(route) == ["b1", "g1", "b2"]
    reason = route.dropped[0].reason
    assert "can never allow this call" in reason and "usd_per_day" in reason, reason


def test_a_job_whose_only_target_a_cap_can_never_allow_is_refused_at_submit_naming_it() -> None:
    capped = _capped("alpha", usd_per_day=0.0001)
    with pytest.raises(NoRoute) as caught:
        plan(job(max_tokens=1000, needs={"model": "a1"}), capped)
    assert caught.value.field == "needs"
    assert "reservation alone is above the usd_per_day cap" in str(caught.value)


def test_a_job_whose_only_target_is_capped_for_now_is_planned_on_it() -> None:
    capped = _capped("alpha", usd_per_day=1.0)
    route = plan(
        job(max_tokens=1000, needs={"model": "a1"}), capped, LiveState(capped={"alpha": "x"})
    )
    assert _models(route) == ["a1"]


# --- escalation in the plan ------------------------------------------------------------------


def test_an_escalated_job_is_planned_on_the_higher_tier_with_a_note() -> None:
    loaded = _with(fast={"escalate_to": "smart", "escalate_when": {"prompt_tokens_over": 100}})
    route = plan(job("word " * 400), loaded)
    assert _models(route) == ["g1", "b2"]
    assert route.notes == ("escalated from tier fast to smart: prompt ~506 tokens > 100",)


def test_a_short_job_stays_on_its_tier() -> None:
    loaded = _with(fast={"escalate_to": "smart", "escalate_when": {"prompt_tokens_over": 100}})
    route = plan(job("hi"), loaded)
    assert _models(route)[0] == "a1" and route.notes == ()


def test_an_unknown_escalate_to_tier_is_a_catalog_error_naming_the_path() -> None:
    data = catalog_data()
    data["tiers"]["fast"]["escalate_to"] = "genius"
    with pytest.raises(ValueError, match="tiers.fast.escalate_to: unknown tier 'genius'"):
        catalog(data)


# --- the explanation -------------------------------------------------------------------------


def test_every_candidate_is_explained_with_its_estimate_position_and_reason() -> None:
    route = plan(job(needs={"tier": "fast", "max_cost_usd": 0.001}), catalog())
    rows = {item.model: item for item in route.considered}
    assert list(rows) == ["a1", "b1", "g1", "b2"]
    assert (rows["a1"].position, rows["a1"].reason) == (0, None)
    assert rows["b1"].position == 1
    assert rows["g1"].position is None and rows["g1"].reason is not None
    # a1: "Say hello." is 3 text + 3 message + 3 priming = 9 prompt tokens at $0.10,
    # plus 1,024 output tokens at $0.40, per million
    assert rows["a1"].prompt_tokens == 9 and rows["a1"].output_tokens == 1024
    assert rows["a1"].cost_usd == pytest.approx((9 * 0.10 + 1024 * 0.40) / 1e6)


def test_a_plan_is_a_pure_function_of_its_inputs() -> None:
    state = LiveState(latencies={("alpha", "a1"): 1.0}, near_cap={"beta": "near"})
    first = plan(job(needs={"tier": "fast", "policy": "fastest"}), catalog(), state)
    assert first == plan(job(needs={"tier": "fast", "policy": "fastest"}), catalog(), state)
