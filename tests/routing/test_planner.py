"""Route planning as a pure function of job, catalog and live state.

The test catalog: tier ``fast`` = a1 (alpha; tools, json_object; 16K window; 4096 out;
$0.10/$0.40) and b1 (beta; every capability; 32K; 4096 out; $0.20/$0.80), falling back to
``smart`` = g1 (gamma; 200K; 16384 out; $3/$15) and b2 (beta; 128K; 8192 out; $2/$8).
"""

from __future__ import annotations

import dataclasses

import pytest

from broker.jobs import TargetRef
from routing.planner import Dropped, LiveState, NoRoute, Route, plan
from tests.routing.factories import catalog, catalog_data, job

IMAGE = {"type": "image_url", "image_url": {"url": "https://img.example/cat.png"}}


def _models(route: Route) -> list[str]:
    return [target.model for target in route.targets]


def _dropped(route: Route) -> dict[str, str]:
    return {item.model: item.reason for item in route.dropped}


# --- order and fallback ---------------------------------------------------------------------


def test_a_tier_plans_its_models_in_order_then_its_fallback_tiers() -> None:
    route = plan(job(), catalog())
    assert route.targets == (
        TargetRef(provider="alpha", model="a1", model_id="alpha-small-1", tier="fast",
                  queue="fast.alpha"),
        TargetRef(provider="beta", model="b1", model_id="beta-fast-1", tier="fast",
                  queue="fast.beta"),
        TargetRef(provider="gamma", model="g1", model_id="gamma-large-1", tier="smart",
                  queue="smart.gamma"),
        TargetRef(provider="beta", model="b2", model_id="beta-large-2", tier="smart",
                  queue="smart.beta"),
    )
    assert route.dropped == ()


def test_a_tier_without_fallback_plans_only_its_own_models() -> None:
    route = plan(job(needs={"tier": "smart"}), catalog())
    assert _models(route) == ["g1", "b2"]
    assert [target.queue for target in route.targets] == ["smart.gamma", "smart.beta"]


def test_a_model_repeated_in_a_fallback_tier_is_kept_only_the_first_time() -> None:
    data = catalog_data()
    data["tiers"]["smart"]["models"] = ["g1", "b1", "b2"]
    route = plan(job(), catalog(data))
    assert _models(route) == ["a1", "b1", "g1", "b2"]
    assert route.targets[1].queue == "fast.beta"


def test_declared_order_wins_over_price_when_models_tie_or_not() -> None:
    data = catalog_data()
    data["tiers"]["fast"]["models"] = ["b1", "a1"]  # the dearer one first
    data["models"][0]["price"] = dict(data["models"][1]["price"])  # and now a tie
    assert _models(plan(job(), catalog(data))) == ["b1", "a1", "g1", "b2"]


def test_no_state_is_the_same_as_an_empty_live_state() -> None:
    loaded = catalog()
    assert plan(job(), loaded) == plan(job(), loaded, LiveState())


# --- an explicit model ----------------------------------------------------------------------


def test_an_explicit_model_is_the_only_target_on_its_tiers_queue() -> None:
    route = plan(job(needs={"model": "b2"}), catalog())
    assert route.targets == (
        TargetRef(provider="beta", model="b2", model_id="beta-large-2", tier="smart",
                  queue="smart.beta"),
    )


def test_an_explicit_model_in_several_tiers_uses_the_first_declared_tier() -> None:
    data = catalog_data()
    data["tiers"]["smart"]["models"] = ["g1", "b2", "b1"]
    route = plan(job(needs={"model": "b1"}), catalog(data))
    assert [target.queue for target in route.targets] == ["fast.beta"]


def test_an_explicit_model_is_filtered_like_any_other() -> None:
    with pytest.raises(NoRoute) as caught:
        plan(job(needs={"model": "a1", "blocked_providers": ["alpha"]}), catalog())
    assert caught.value.field == "needs"
    assert caught.value.dropped == (
        Dropped(model="a1", tier="fast", reason="provider 'alpha' is in blocked_providers"),
    )


# --- filters --------------------------------------------------------------------------------


def test_providers_outside_allowed_providers_are_dropped_with_the_reason() -> None:
    route = plan(job(needs={"tier": "fast", "allowed_providers": ["beta"]}), catalog())
    assert _models(route) == ["b1", "b2"]
    assert _dropped(route) == {
        "a1": "provider 'alpha' is not in allowed_providers (beta)",
        "g1": "provider 'gamma' is not in allowed_providers (beta)",
    }


def test_blocked_providers_are_dropped_with_the_reason() -> None:
    route = plan(job(needs={"tier": "fast", "blocked_providers": ["beta"]}), catalog())
    assert _models(route) == ["a1", "g1"]
    assert _dropped(route)["b1"] == "provider 'beta' is in blocked_providers"


def test_an_image_in_the_request_drops_models_without_vision() -> None:
    route = plan(job(needs={"tier": "fast"}, messages=[{"role": "user", "content": [IMAGE]}]),
                 catalog())
    assert _models(route) == ["b1", "g1", "b2"]
    assert _dropped(route) == {"a1": "lacks capability vision"}
    assert route.dropped[0].tier == "fast"


def test_an_explicitly_asked_capability_drops_models_without_it() -> None:
    route = plan(job(needs={"tier": "fast", "capabilities": ["json_schema", "vision"]}), catalog())
    assert _dropped(route) == {"a1": "lacks capability json_schema, vision"}


def test_a_json_schema_response_format_implies_the_capability() -> None:
    fmt = {"type": "json_schema", "json_schema": {"name": "out", "schema": {"type": "object"}}}
    route = plan(job(response_format=fmt), catalog())
    assert _dropped(route) == {"a1": "lacks capability json_schema"}


def test_a_prompt_over_a_models_window_drops_that_model() -> None:
    # ~15,000 tokens of text + 1,024 output allowance > a1's 16,000; fits b1's 32,000
    route = plan(job("word " * 12_000), catalog())
    assert _models(route) == ["b1", "g1", "b2"]
    reason = _dropped(route)["a1"]
    assert reason.startswith("context window 16,000 tokens < ~16,")
    assert "+ 1,024 output" in reason


def test_the_requests_own_output_limit_counts_against_the_window() -> None:
    route = plan(job("word " * 10_000, max_tokens=4000), catalog())  # ~12,506 + 4,000 > 16,000
    assert "a1" in _dropped(route)
    assert "+ 4,000 output" in _dropped(route)["a1"]


def test_an_output_limit_above_a_models_maximum_drops_that_model() -> None:
    route = plan(job(max_completion_tokens=5000), catalog())
    assert _models(route) == ["g1", "b2"]
    assert _dropped(route)["a1"] == (
        "asks for up to 5,000 output tokens; the model's maximum is 4,096"
    )


def test_a_model_over_the_cost_ceiling_is_dropped_with_the_estimate() -> None:
    # 1,024 output tokens: a1 ~$0.00041, b1 ~$0.00082, g1 ~$0.0154, b2 ~$0.0082
    route = plan(job(needs={"tier": "fast", "max_cost_usd": 0.001}), catalog())
    assert _models(route) == ["a1", "b1"]
    assert _dropped(route)["g1"].startswith("estimated cost $0.015")
    assert _dropped(route)["g1"].endswith("> max_cost_usd $0.001000")


def test_several_choices_multiply_the_output_in_the_cost_estimate() -> None:
    needs = {"tier": "fast", "max_cost_usd": 0.002}
    assert _models(plan(job(needs=needs), catalog()))[:2] == ["a1", "b1"]
    route = plan(job(needs=needs, n=3), catalog())  # b1: 3 x 1,024 x $0.80 / 1M = $0.00246
    assert _models(route) == ["a1"]
    assert _dropped(route)["b1"].startswith("estimated cost $0.002459")


def test_a_model_with_an_open_circuit_is_dropped() -> None:
    state = LiveState(open_circuits=frozenset({("alpha", "a1")}))
    route = plan(job(), catalog(), state)
    assert _models(route) == ["b1", "g1", "b2"]
    assert _dropped(route) == {"a1": "circuit open for alpha/a1"}


def test_a_job_whose_every_candidate_has_an_open_circuit_is_planned_to_wait_not_refused() -> None:
    every = frozenset({("alpha", "a1"), ("beta", "b1"), ("gamma", "g1"), ("beta", "b2")})
    route = plan(job(), catalog(), LiveState(open_circuits=every))

    assert _models(route) == ["a1", "b1", "g1", "b2"]
    assert _dropped(route) == {}
    assert route.notes == (
        "every candidate's circuit is open or its spend cap is reached for now:"
        " the job is held until one can take it",
    )


def test_a_candidate_with_an_open_circuit_and_a_lasting_reason_is_still_refused() -> None:
    state = LiveState(open_circuits=frozenset({("alpha", "a1")}))
    with pytest.raises(NoRoute):
        plan(job(needs={"model": "a1", "blocked_providers": ["alpha"]}), catalog(), state)


def test_every_reason_a_model_fails_is_recorded_together() -> None:
    state = LiveState(open_circuits=frozenset({("alpha", "a1")}))
    route = plan(job(needs={"tier": "fast", "blocked_providers": ["alpha"]}), catalog(), state)
    assert _dropped(route)["a1"] == (
        "provider 'alpha' is in blocked_providers; circuit open for alpha/a1"
    )


# --- no route -------------------------------------------------------------------------------


def test_an_unknown_tier_is_no_route_on_needs_tier_listing_known_tiers() -> None:
    with pytest.raises(NoRoute) as caught:
        plan(job(needs={"tier": "genius"}), catalog())
    assert caught.value.field == "needs.tier"
    assert str(caught.value) == "unknown tier 'genius'; known tiers: fast, smart"
    assert caught.value.dropped == ()


def test_an_unknown_model_is_no_route_on_needs_model_listing_known_models() -> None:
    with pytest.raises(NoRoute) as caught:
        plan(job(needs={"model": "gpt-9"}), catalog())
    assert caught.value.field == "needs.model"
    assert "unknown model 'gpt-9'; known models: a1, b1, b2, g1" in str(caught.value)


def test_when_every_candidate_is_dropped_no_route_lists_each_and_why() -> None:
    needs = {"tier": "fast", "allowed_providers": ["delta"]}
    with pytest.raises(NoRoute) as caught:
        plan(job(needs=needs), catalog())
    error = caught.value
    assert error.field == "needs"
    assert [item.model for item in error.dropped] == ["a1", "b1", "g1", "b2"]
    lines = str(error).splitlines()
    assert lines[0] == "no target can take this job (tier 'fast'); every candidate was dropped:"
    assert lines[1] == "  - a1 (tier fast): provider 'alpha' is not in allowed_providers (delta)"
    assert lines[4] == "  - b2 (tier smart): provider 'beta' is not in allowed_providers (delta)"


def test_route_and_dropped_are_immutable() -> None:
    route = plan(job(needs={"tier": "fast", "blocked_providers": ["alpha"]}), catalog())
    with pytest.raises(dataclasses.FrozenInstanceError):
        route.targets = ()  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        route.dropped[0].reason = "x"  # type: ignore[misc]
