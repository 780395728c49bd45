"""An OpenAI or OpenRouter body as cascade's request and needs, and the answer's headers.

OpenRouter's meanings: https://openrouter.ai/docs/guides/routing/model-fallbacks (``models``)
and https://openrouter.ai/docs/features/provider-routing (``provider``: order, allow_fallbacks,
only, ignore, sort, max_price in USD per million tokens, require_parameters).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from broker.catalog_file import load_catalog
from broker.http_api.openai_compat import CompatError, job_inputs, result_headers
from broker.jobs import (
    Attempt,
    AttemptOutcome,
    Choice,
    CompletionResult,
    ResponseMessage,
    RoutingNeeds,
    TargetRef,
    Usage,
)
from routing.catalog import Catalog

SHIPPED = Path(__file__).resolve().parents[3] / "broker" / "cascade.yaml"
HELLO = [{"role": "user", "content": "hi"}]


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(SHIPPED, environ={})


def _inputs(catalog: Catalog, **body: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    return job_inputs({"messages": HELLO, **body}, catalog)


def test_cascade_needs_in_extra_body_are_the_jobs_needs(catalog: Catalog) -> None:
    request, needs = _inputs(
        catalog,
        model="standard",
        needs={
            "capabilities": ["tools"],
            "max_cost_usd": 0.01,
            "policy": "cheapest",
            "blocked_providers": ["mistral"],
        },
        temperature=0.2,
    )
    assert request == {"messages": HELLO, "temperature": 0.2}
    parsed = RoutingNeeds.model_validate(needs)
    assert parsed.tier == "standard" and parsed.policy == "cheapest"
    assert parsed.blocked_providers == frozenset({"mistral"})


def test_needs_may_not_name_the_tier_twice(catalog: Catalog) -> None:
    with pytest.raises(CompatError) as refused:
        _inputs(catalog, model="standard", needs={"tier": "economy"})
    assert refused.value.param == "needs.tier"


def test_openrouter_slugs_name_catalog_models(catalog: Catalog) -> None:
    _, needs = _inputs(catalog, model="anthropic/claude-sonnet-5")
    assert needs == {"model": "claude-sonnet-5"}
    _, needs = _inputs(catalog, model="google/gemini-3.1-pro-preview")  # the provider's own id
    assert needs == {"model": "gemini-3.1-pro"}


def test_models_is_a_fallback_list_after_the_primary(catalog: Catalog) -> None:
    _, needs = _inputs(
        catalog, model="openai/gpt-5.4", models=["google/gemini-2.5-pro", "deepseek-chat"]
    )
    assert needs == {"model": "gpt-5.4", "fallback_models": ["gemini-2.5-pro", "deepseek-chat"]}


def test_models_without_model_makes_the_first_the_primary(catalog: Catalog) -> None:
    _, needs = _inputs(catalog, models=["claude-haiku-4-5", "gpt-5.4-mini"])
    assert needs == {"model": "claude-haiku-4-5", "fallback_models": ["gpt-5.4-mini"]}


def test_an_unknown_fallback_is_refused_naming_its_place(catalog: Catalog) -> None:
    with pytest.raises(CompatError) as refused:
        _inputs(catalog, model="standard", models=["gpt-5.4", "meta/llama-9"])
    assert refused.value.param == "models[1]" and "meta/llama-9" in refused.value.message


def test_an_unknown_model_is_404_model_not_found(catalog: Catalog) -> None:
    with pytest.raises(CompatError) as refused:
        _inputs(catalog, model="gpt-9")
    assert (refused.value.status, refused.value.code) == (404, "model_not_found")


def test_provider_preferences_map_onto_needs(catalog: Catalog) -> None:
    _, needs = _inputs(
        catalog,
        model="standard",
        provider={
            "order": ["google", "openai"],
            "ignore": ["mistral", "some-host"],
            "sort": "price",
            "max_price": {"prompt": 3, "completion": 15},
            "require_parameters": True,
        },
    )
    assert needs == {
        "tier": "standard",
        "provider_order": ["google", "openai"],
        "blocked_providers": ["mistral", "some-host"],
        "policy": "cheapest",
        "max_price": {"input": 3, "output": 15},
    }
    RoutingNeeds.model_validate(needs)


def test_order_without_fallbacks_allows_only_those_providers(catalog: Catalog) -> None:
    _, needs = _inputs(
        catalog, model="standard", provider={"order": ["openai"], "allow_fallbacks": False}
    )
    assert needs["allowed_providers"] == ["openai"]
    _, needs = _inputs(
        catalog, model="standard", provider={"only": ["google"], "sort": {"by": "latency"}}
    )
    assert needs["allowed_providers"] == ["google"] and needs["policy"] == "fastest"


@pytest.mark.parametrize(
    ("provider", "param"),
    [
        ({"quantizations": ["fp8"]}, "provider.quantizations"),
        ({"only": ["nobody"]}, "provider.only"),
        ({"sort": "vibes"}, "provider.sort"),
        ({"max_price": {"request": 1}}, "provider.max_price.request"),
    ],
)
def test_what_cascade_cannot_honour_is_refused_by_name(
    catalog: Catalog, provider: dict[str, Any], param: str
) -> None:
    with pytest.raises(CompatError) as refused:
        _inputs(catalog, model="standard", provider=provider)
    assert refused.value.param == param


def test_provider_and_needs_may_not_both_set_one_need(catalog: Catalog) -> None:
    with pytest.raises(CompatError) as refused:
        _inputs(catalog, model="standard", needs={"policy": "ordered"}, provider={"sort": "price"})
    assert refused.value.param == "needs.policy"


def _result(attempts: list[Attempt]) -> CompletionResult:
    return CompletionResult(
        id="chatcmpl-1",
        created=1,
        model="gpt-5.4-2026",
        job_id="j1",
        provider="openai",
        tier="standard",
        cost_usd=0.000123,
        attempts=attempts,
        usage=Usage(),
        finished_at=datetime.now(UTC),
        choices=[Choice(index=0, message=ResponseMessage(content="hi"), finish_reason="stop")],
    )


def _attempt(model: str, provider: str, outcome: AttemptOutcome) -> Attempt:
    target = TargetRef(
        provider=provider,
        model=model,
        model_id=model,
        tier="standard",
        queue=f"standard.{provider}",
    )
    return Attempt(
        target=target,
        hop=0,
        number=1,
        started_at=datetime.now(UTC),
        duration_s=0.1,
        outcome=outcome,
    )


def test_headers_name_the_job_the_answering_model_its_cost_and_the_attempts() -> None:
    result = _result(
        [
            _attempt("claude-sonnet-5", "anthropic", AttemptOutcome.REROUTE),
            _attempt("gpt-5.4", "openai", AttemptOutcome.SUCCESS),
        ]
    )
    assert result_headers(result) == {
        "x-cascade-job-id": "j1",
        "x-cascade-provider": "openai",
        "x-cascade-model": "gpt-5.4",
        "x-cascade-cost-usd": "0.000123000",
        "x-cascade-attempts": "2",
    }


def test_openrouter_reasoning_usage_and_route_are_accepted(catalog: Catalog) -> None:
    request, _ = _inputs(
        catalog, model="standard", reasoning={"effort": "high"}, usage={"include": True},
        route="fallback", transforms=[],
    )
    assert request == {"messages": HELLO, "reasoning_effort": "high"}
    request, _ = _inputs(catalog, model="standard", reasoning={"enabled": False})
    assert request["reasoning_effort"] == "none"


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"transforms": ["middle-out"]}, "transforms"),
        ({"reasoning": {"max_tokens": 2000}}, "reasoning"),
        ({"reasoning": {"effort": "low"}, "reasoning_effort": "low"}, "reasoning"),
        ({"usage": {"include": True, "detail": 1}}, "usage"),
    ],
)
def test_openrouter_fields_cascade_cannot_honour_are_refused_by_name(
    catalog: Catalog, extra: dict[str, Any], param: str
) -> None:
    with pytest.raises(CompatError) as refused:
        _inputs(catalog, model="standard", **extra)
    assert refused.value.param == param
