"""Loading cascade.yaml: file precedence, profiles, and errors that name the file and key."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml

from broker.catalog_file import CatalogError, load_catalog, resolve_catalog_path
from broker.jobs import CompletionJob
from routing.planner import plan
from routing.queues import all_queues

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "catalog.yaml"
PACKAGED = Path(__file__).resolve().parents[2] / "broker" / "cascade.yaml"


def _write(tmp_path: Path, text: str, name: str = "cascade.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def _fixture_with(tmp_path: Path, edit: str, replacement: str) -> Path:
    text = FIXTURE.read_text(encoding="utf-8")
    assert edit in text
    return _write(tmp_path, text.replace(edit, replacement, 1))


def _job(tier: str) -> CompletionJob:
    return CompletionJob.model_validate(
        {"needs": {"tier": tier}, "request": {"messages": [{"role": "user", "content": "Hi"}]}}
    )


# --- which file -----------------------------------------------------------------------------


def test_an_explicit_path_wins_over_the_environment(tmp_path: Path) -> None:
    env = {"CASCADE_CONFIG": str(tmp_path / "elsewhere.yaml")}
    assert resolve_catalog_path(FIXTURE, env) == FIXTURE


def test_cascade_config_names_the_file_when_no_path_is_given(tmp_path: Path) -> None:
    loaded = load_catalog(environ={"CASCADE_CONFIG": str(FIXTURE)})
    assert list(loaded.tiers) == ["fast", "smart"]


def test_a_cascade_yaml_in_the_working_directory_comes_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write(tmp_path, FIXTURE.read_text(encoding="utf-8"))
    monkeypatch.chdir(tmp_path)
    assert resolve_catalog_path(None, {}) == Path("cascade.yaml")
    assert list(load_catalog(environ={}).tiers) == ["fast", "smart"]


def test_the_packaged_catalog_is_the_last_resort(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    source = resolve_catalog_path(None, {})
    assert source.name == "cascade.yaml"
    assert source.read_text(encoding="utf-8") == PACKAGED.read_text(encoding="utf-8")
    assert "frontier" in load_catalog(environ={}).tiers


def test_a_missing_file_says_so_and_names_it(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(CatalogError, match=r"nope\.yaml: catalog file not found"):
        load_catalog(missing, environ={})


# --- profiles -------------------------------------------------------------------------------


def test_a_profile_argument_applies_the_profile() -> None:
    loaded = load_catalog(FIXTURE, profile="emulated", environ={})
    assert loaded.provider("alpha").base_url == "http://127.0.0.1:8900/alpha/v1"
    assert loaded.provider("beta").api_keys({}) == ["emulated"]


def test_cascade_profile_applies_a_profile_and_empty_means_none() -> None:
    profiled = load_catalog(FIXTURE, environ={"CASCADE_PROFILE": "emulated"})
    plain = load_catalog(FIXTURE, environ={"CASCADE_PROFILE": ""})
    assert profiled.provider("gamma").base_url == "http://127.0.0.1:8900/gamma/v1"
    assert plain.provider("gamma").base_url == "https://gamma.example/v1"


def test_an_unknown_profile_names_the_file_and_the_known_profiles() -> None:
    with pytest.raises(CatalogError) as caught:
        load_catalog(FIXTURE, profile="prod", environ={})
    assert str(caught.value) == f"{FIXTURE}: unknown profile 'prod'; known profiles: emulated"


# --- errors ---------------------------------------------------------------------------------


def test_a_model_missing_price_input_names_the_path_of_the_key(tmp_path: Path) -> None:
    path = _fixture_with(
        tmp_path,
        "price: {input: 0.20, output: 0.80}",
        "price: {output: 0.80}",
    )
    with pytest.raises(CatalogError) as caught:
        load_catalog(path, environ={})
    message = str(caught.value)
    assert message.startswith(f"{path}: invalid catalog:")
    assert "  models[1].price.input: Field required" in message.splitlines()


def test_consistency_errors_lead_with_their_own_path(tmp_path: Path) -> None:
    path = _fixture_with(tmp_path, "fallback: smart", "fallback: genius")
    with pytest.raises(CatalogError) as caught:
        load_catalog(path, environ={})
    lines = str(caught.value).splitlines()
    assert "  tiers.fast.fallback: unknown tier 'genius' (known: fast, smart)" in lines


def test_every_error_is_listed_one_per_line(tmp_path: Path) -> None:
    path = _fixture_with(tmp_path, "context_window: 16000", "context_window: -1\n    colour: red")
    with pytest.raises(CatalogError) as caught:
        load_catalog(path, environ={})
    lines = str(caught.value).splitlines()
    assert "  models[0].context_window: Input should be greater than 0" in lines
    assert "  models[0].colour: unknown field" in lines


def test_a_placeholder_key_in_the_file_is_refused(tmp_path: Path) -> None:
    path = _fixture_with(
        tmp_path, "api_key_env: ALPHA_API_KEY", "api_key_env: ALPHA_API_KEY\n    placeholder_key: x"
    )
    with pytest.raises(CatalogError, match=r"alpha\.placeholder_key: .*set by a profile"):
        load_catalog(path, environ={})


def test_a_yaml_syntax_error_names_the_line_and_column(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """\
        providers:
          alpha:
            wire_format: openai
            base_url: [https://alpha.example
        models: []
        """,
    )
    with pytest.raises(CatalogError) as caught:
        load_catalog(path, environ={})
    message = str(caught.value)
    assert message.startswith(f"{path}: YAML syntax error at line ")
    assert "line 5, column 7: expected ',' or ']'" in message


def test_a_repeated_key_is_refused_with_its_line(tmp_path: Path) -> None:
    path = _fixture_with(tmp_path, "  gamma:\n", "  alpha:\n")
    with pytest.raises(CatalogError, match=r"line 15, column 3: duplicate key 'alpha'"):
        load_catalog(path, environ={})


@pytest.mark.parametrize(("text", "found"), [("", "an empty file"), ("- a\n", "a list")])
def test_a_file_that_is_not_a_mapping_is_refused(tmp_path: Path, text: str, found: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(CatalogError, match=f"found {found}"):
        load_catalog(path, environ={})


# --- the shipped catalogs -------------------------------------------------------------------


def test_the_packaged_catalog_plans_a_job_for_every_tier() -> None:
    loaded = load_catalog(PACKAGED, environ={})
    assert set(loaded.tiers) == {"frontier", "standard", "economy"}
    for tier in loaded.tiers:
        route = plan(_job(tier), loaded)
        assert route.targets[0].tier == tier
        assert route.dropped == ()


def test_the_packaged_tiers_have_two_to_four_models_across_several_providers() -> None:
    loaded = load_catalog(PACKAGED, environ={})
    for tier in loaded.tiers.values():
        assert 2 <= len(tier.models) <= 4
        assert len({loaded.model(name).provider for name in tier.models}) >= 2


def test_the_packaged_emulated_profile_maps_real_urls_onto_the_emulator() -> None:
    loaded = load_catalog(PACKAGED, profile="emulated", environ={})
    assert loaded.provider("openai").base_url == "http://127.0.0.1:8900/openai/v1"
    assert loaded.provider("deepseek").base_url == "http://127.0.0.1:8900/deepseek"
    assert loaded.provider("anthropic").base_url == "http://127.0.0.1:8900/anthropic"
    assert all(provider.api_keys({}) == ["emulated"] for provider in loaded.providers.values())


def test_the_packaged_catalog_names_only_key_variables() -> None:
    raw = yaml.safe_load(PACKAGED.read_text(encoding="utf-8"))
    assert {name: p["api_key_env"] for name, p in raw["providers"].items()} == {
        "openai": "OPENAI_API_KEY",
        "anthropic": "ANTHROPIC_API_KEY",
        "google": "GEMINI_API_KEY",
        "deepseek": "DEEPSEEK_API_KEY",
        "mistral": "MISTRAL_API_KEY",
    }


def test_the_test_fixture_catalog_uses_only_the_openai_wire_format() -> None:
    loaded = load_catalog(FIXTURE, environ={})
    assert {provider.wire_format for provider in loaded.providers.values()} == {"openai"}
    assert all_queues(loaded) == ["fast.alpha", "fast.beta", "smart.gamma", "smart.beta"]
    assert loaded.tiers["fast"].fallback == "smart"
