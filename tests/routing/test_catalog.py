"""The catalog's validation, lookups, key resolution and profiles."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from broker.jobs import Capability, format_validation_error
from routing.catalog import (
    Catalog,
    MissingApiKeyError,
    ProviderConfig,
    Timeouts,
    UnknownNameError,
)
from tests.routing.factories import catalog, catalog_data


def _errors(data: dict[str, object]) -> str:
    with pytest.raises(ValidationError) as caught:
        Catalog.model_validate(data)
    return str(caught.value)


# --- validation -----------------------------------------------------------------------------


def test_the_test_catalog_is_valid_and_keeps_declared_order() -> None:
    loaded = catalog()
    assert [model.name for model in loaded.models] == ["a1", "b1", "g1", "b2"]
    assert list(loaded.tiers) == ["fast", "smart"]
    assert loaded.model("b1").capabilities == frozenset(
        {Capability.VISION, Capability.TOOLS, Capability.JSON_OBJECT, Capability.JSON_SCHEMA}
    )


def test_provider_defaults_are_the_documented_ones() -> None:
    provider = catalog().provider("alpha")
    assert provider.timeouts == Timeouts(connect=5, read=60, write=10, pool=10, total=120)
    assert provider.concurrency == 64
    assert provider.max_retries == 2
    assert provider.options == {}


def test_a_model_whose_provider_does_not_exist_is_refused_naming_the_path() -> None:
    data = catalog_data()
    data["models"][2]["provider"] = "delta"
    message = _errors(data)
    assert "models[2].provider: unknown provider 'delta'" in message
    assert "alpha, beta, gamma" in message


def test_two_models_with_one_name_are_refused_naming_both() -> None:
    data = catalog_data()
    data["models"][3]["name"] = "b1"
    data["tiers"]["smart"]["models"] = ["g1"]
    assert "models[3].name: 'b1' is already the name of models[1]" in _errors(data)


def test_a_tier_listing_an_unknown_model_is_refused_naming_the_path() -> None:
    data = catalog_data()
    data["tiers"]["smart"]["models"] = ["g1", "b2", "zz"]
    assert "tiers.smart.models[2]: unknown model 'zz'" in _errors(data)


def test_a_tier_listing_a_model_twice_is_refused() -> None:
    data = catalog_data()
    data["tiers"]["fast"]["models"] = ["a1", "b1", "a1"]
    assert "lists a1 more than once" in _errors(data)


def test_an_unknown_fallback_tier_is_refused_listing_the_known_tiers() -> None:
    data = catalog_data()
    data["tiers"]["smart"]["fallback"] = "genius"
    message = _errors(data)
    assert "tiers.smart.fallback: unknown tier 'genius' (known: fast, smart)" in message


def test_a_fallback_cycle_is_refused_and_shown() -> None:
    data = catalog_data()
    data["tiers"]["smart"]["fallback"] = "fast"
    assert "fallback cycle fast -> smart -> fast" in _errors(data)


def test_a_tier_falling_back_to_itself_is_a_cycle() -> None:
    data = catalog_data()
    data["tiers"]["smart"]["fallback"] = "smart"
    assert "tiers.smart.fallback: fallback cycle smart -> smart" in _errors(data)


def test_a_model_in_no_tier_is_refused() -> None:
    data = catalog_data()
    data["tiers"]["smart"]["models"] = ["g1"]
    assert "models[3]: model 'b2' is in no tier" in _errors(data)


def test_every_consistency_problem_is_reported_at_once() -> None:
    data = catalog_data()
    data["models"][0]["provider"] = "delta"
    data["tiers"]["smart"]["fallback"] = "genius"
    message = _errors(data)
    assert "models[0].provider" in message
    assert "tiers.smart.fallback" in message


def test_unknown_fields_are_refused() -> None:
    data = catalog_data()
    data["models"][0]["prise"] = {"input": 1, "output": 1}
    assert "prise" in _errors(data)


def test_a_negative_price_is_refused() -> None:
    data = catalog_data()
    data["models"][0]["price"]["input"] = -1
    assert "greater than or equal to 0" in _errors(data)


def test_quality_outside_zero_to_one_is_refused() -> None:
    data = catalog_data()
    data["models"][0]["quality"] = 1.5
    assert "less than or equal to 1" in _errors(data)


def test_max_output_above_the_context_window_is_refused() -> None:
    data = catalog_data()
    data["models"][0]["max_output_tokens"] = 20000
    assert "exceeds context_window 16000" in _errors(data)


def test_a_base_url_that_is_not_http_is_refused() -> None:
    data = catalog_data()
    data["providers"]["alpha"]["base_url"] = "ftp://alpha.example"
    assert "http:// or https://" in _errors(data)


def test_a_tier_name_with_a_dot_is_refused_because_it_would_break_queue_names() -> None:
    data = catalog_data()
    data["tiers"]["fa.st"] = data["tiers"].pop("fast")
    assert "String should match pattern" in _errors(data)


def test_a_key_pasted_into_api_key_env_is_refused_without_echoing_it() -> None:
    data = catalog_data()
    data["providers"]["alpha"]["api_key_env"] = "sk-proj-abcdefghijklmnop"
    with pytest.raises(ValidationError) as caught:
        Catalog.model_validate(data)
    message = format_validation_error(caught.value, data)
    assert message.startswith("providers.alpha.api_key_env: ")
    assert "not an environment variable name" in message
    assert "abcdefghijklmnop" not in message


def test_a_placeholder_key_in_the_providers_section_is_refused() -> None:
    data = catalog_data()
    data["providers"]["alpha"]["placeholder_key"] = "x"
    assert "is set by a profile" in _errors(data)


def test_a_dumped_profiled_catalog_reads_back_with_the_explicit_flag() -> None:
    profiled = catalog().with_profile("emulated")
    dumped = profiled.model_dump(mode="json")
    assert Catalog.from_dict(dumped, allow_placeholder_key=True) == profiled
    with pytest.raises(ValidationError):
        Catalog.from_dict(dumped)


def test_the_catalog_is_frozen() -> None:
    loaded = catalog()
    with pytest.raises(ValidationError):
        loaded.tiers = {}  # type: ignore[misc]


# --- lookups --------------------------------------------------------------------------------


def test_lookups_of_unknown_names_list_the_known_ones() -> None:
    loaded = catalog()
    with pytest.raises(UnknownNameError, match="unknown model 'zz'; known models: a1, b1, b2, g1"):
        loaded.model("zz")
    with pytest.raises(UnknownNameError, match="known providers: alpha, beta, gamma"):
        loaded.provider("zz")
    with pytest.raises(UnknownNameError, match="known tiers: fast, smart"):
        loaded.tier("zz")


def test_tiers_of_follows_declared_tier_order() -> None:
    data = catalog_data()
    data["tiers"]["smart"]["models"] = ["g1", "b2", "b1"]
    loaded = catalog(data)
    assert loaded.tiers_of("b1") == ["fast", "smart"]
    assert loaded.tiers_of("g1") == ["smart"]


def test_tier_chain_follows_fallbacks() -> None:
    loaded = catalog()
    assert loaded.tier_chain("fast") == ["fast", "smart"]
    assert loaded.tier_chain("smart") == ["smart"]


# --- keys -----------------------------------------------------------------------------------


def test_api_keys_come_from_the_named_variable() -> None:
    assert catalog().provider("alpha").api_keys({"ALPHA_API_KEY": "k1"}) == ["k1"]


def test_a_missing_key_variable_is_an_error_naming_it() -> None:
    with pytest.raises(MissingApiKeyError, match="ALPHA_API_KEY"):
        catalog().provider("alpha").api_keys({})


def test_an_empty_key_variable_counts_as_unset() -> None:
    with pytest.raises(MissingApiKeyError, match="ALPHA_API_KEY"):
        catalog().provider("alpha").api_keys({"ALPHA_API_KEY": ""})


def test_a_rotation_list_returns_every_key_that_is_set_in_order() -> None:
    beta = catalog().provider("beta")
    env = {"BETA_API_KEY": "first", "BETA_API_KEY_2": "second"}
    assert beta.api_keys(env) == ["first", "second"]
    assert beta.api_keys({"BETA_API_KEY_2": "second"}) == ["second"]


def test_a_rotation_list_with_no_key_set_names_every_variable() -> None:
    with pytest.raises(MissingApiKeyError, match="one of BETA_API_KEY, BETA_API_KEY_2"):
        catalog().provider("beta").api_keys({})


def test_a_provider_built_in_code_cannot_carry_a_placeholder_key() -> None:
    with pytest.raises(ValidationError):
        ProviderConfig(
            wire_format="openai",
            base_url="https://x.example",
            api_key_env="X_KEY",
            placeholder_key="k",
        )


# --- profiles -------------------------------------------------------------------------------


def test_the_emulated_profile_rewrites_base_urls_keeping_the_path() -> None:
    profiled = catalog().with_profile("emulated")
    assert profiled.provider("alpha").base_url == "http://127.0.0.1:8900/alpha/v1"
    assert profiled.provider("gamma").base_url == "http://127.0.0.1:8900/gamma"


def test_the_emulated_profile_makes_real_keys_unnecessary() -> None:
    profiled = catalog().with_profile("emulated")
    assert profiled.provider("alpha").api_keys({}) == ["emulated"]
    assert profiled.provider("beta").api_keys({"BETA_API_KEY": "real"}) == ["emulated"]


def test_a_profile_can_be_pointed_at_another_emulator_url() -> None:
    profiled = catalog().with_profile("emulated", emulator_url="http://127.0.0.1:41234/")
    assert profiled.provider("beta").base_url == "http://127.0.0.1:41234/beta/v1"


def test_applying_a_profile_leaves_the_original_catalog_alone() -> None:
    original = catalog()
    original.with_profile("emulated")
    assert original.provider("alpha").base_url == "https://alpha.example/v1"
    assert original.provider("alpha").placeholder_key is None


def test_real_provider_urls_map_onto_the_emulator_as_documented() -> None:
    data = catalog_data()
    data["providers"]["alpha"]["base_url"] = "https://api.openai.com/v1"
    data["providers"]["gamma"]["base_url"] = "https://api.deepseek.com"
    profiled = catalog(data).with_emulator("http://127.0.0.1:8900")
    assert profiled.provider("alpha").base_url == "http://127.0.0.1:8900/alpha/v1"
    assert profiled.provider("gamma").base_url == "http://127.0.0.1:8900/gamma"


def test_an_unknown_profile_is_an_error_listing_the_known_ones() -> None:
    with pytest.raises(UnknownNameError, match="unknown profile 'prod'; known profiles: emulated"):
        catalog().with_profile("prod")


def test_prefill_on_a_model_whose_wire_format_has_none_is_refused_naming_the_path() -> None:
    data = catalog_data()
    data["models"][0]["prefill"] = True
    assert "models[0].prefill: wire format 'openai' has no assistant prefill" in _errors(data)
