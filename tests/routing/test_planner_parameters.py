"""The planner routes around targets whose wire format cannot carry a job's parameters.

On the shipped catalog, tier ``standard`` starts with claude-sonnet-5 (Anthropic), whose
Messages API has no ``n``, ``seed`` or penalties and refuses a whitespace-only stop sequence.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from broker.catalog_file import load_catalog
from broker.jobs import CompletionJob
from routing.catalog import Catalog
from routing.planner import NoRoute, plan

SHIPPED = Path(__file__).resolve().parents[2] / "broker" / "cascade.yaml"
HELLO = [{"role": "user", "content": "hello"}]


@pytest.fixture(scope="module")
def shipped() -> Catalog:
    return load_catalog(SHIPPED, environ={})


def _job(needs: dict[str, Any], **request: Any) -> CompletionJob:
    return CompletionJob.model_validate({"needs": needs, "request": {"messages": HELLO, **request}})


@pytest.mark.parametrize(
    "parameters",
    [{"n": 2}, {"seed": 7}, {"stop": ["\n"]}, {"frequency_penalty": 0.5}, {"logprobs": True}],
)
def test_standard_tier_skips_anthropic_for_parameters_it_cannot_carry(
    shipped: Catalog, parameters: dict[str, Any]
) -> None:
    route = plan(_job({"tier": "standard"}, **parameters), shipped)
    assert route.targets[0].model == "gpt-5.4"
    assert all(target.provider != "anthropic" for target in route.targets)
    reasons = {item.model: item.reason for item in route.dropped}
    name = next(iter(parameters))
    assert f"anthropic cannot carry {name}" in reasons["claude-sonnet-5"]


def test_a_parameter_every_format_carries_keeps_the_declared_order(shipped: Catalog) -> None:
    route = plan(_job({"tier": "standard"}, stop=["END"], temperature=0.3), shipped)
    assert route.targets[0].model == "claude-sonnet-5"


def test_reasoning_effort_is_mapped_so_anthropic_keeps_its_place(shipped: Catalog) -> None:
    route = plan(_job({"tier": "standard"}, reasoning_effort="low"), shipped)
    assert route.targets[0].model == "claude-sonnet-5"


def test_a_job_no_target_can_carry_is_refused_naming_parameter_and_models(
    shipped: Catalog,
) -> None:
    with pytest.raises(NoRoute) as refused:
        plan(_job({"model": "claude-haiku-4-5"}, seed=3), shipped)
    assert "claude-haiku-4-5" in str(refused.value)
    assert "anthropic cannot carry seed" in str(refused.value)


def test_logit_bias_goes_only_to_openai_family_targets(shipped: Catalog) -> None:
    route = plan(_job({"tier": "economy"}, logit_bias={"50256": -100}), shipped)
    assert {target.provider for target in route.targets} == {"openai"}


# --- needs an OpenRouter-style request maps to ---------------------------------------------


def test_fallback_models_follow_the_models_own_route_in_order(shipped: Catalog) -> None:
    fallbacks = ["gemini-2.5-flash", "gpt-5.4", "deepseek-chat"]
    needs = {"model": "gpt-5.4", "fallback_models": fallbacks}
    route = plan(_job(needs), shipped)
    assert [target.model for target in route.targets] == [
        "gpt-5.4",
        "gemini-2.5-flash",
        "deepseek-chat",
    ]
    assert route.targets[1].queue == "economy.google"


def test_an_unknown_fallback_model_is_refused_by_name(shipped: Catalog) -> None:
    with pytest.raises(NoRoute) as refused:
        plan(_job({"model": "gpt-5.4", "fallback_models": ["gpt-9"]}), shipped)
    assert refused.value.field == "needs.fallback_models"
    assert "gpt-9" in str(refused.value)


def test_provider_order_puts_those_providers_first_and_keeps_the_rest(shipped: Catalog) -> None:
    route = plan(_job({"tier": "standard", "provider_order": ["google", "openai"]}), shipped)
    assert [target.model for target in route.targets] == [
        "gemini-2.5-pro",
        "gemini-3.1-pro",
        "gpt-5.4",
        "gpt-5.5",
        "claude-sonnet-5",
        "mistral-large",
        "claude-opus-4-6",
    ]


def test_max_price_drops_models_priced_above_it(shipped: Catalog) -> None:
    route = plan(_job({"tier": "standard", "max_price": {"output": 10}}), shipped)
    reasons = {item.model: item.reason for item in route.dropped}
    assert "output price $15/M > max_price.output $10/M" in reasons["gpt-5.4"]
    assert all(shipped.model(target.model).price.output <= 10 for target in route.targets)
