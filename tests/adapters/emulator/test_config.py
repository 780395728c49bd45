"""Loading an emulator config file (YAML or JSON) and the latency lookup."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from adapters.emulator import (
    EmulatorConfigError,
    LatencySettings,
    latency_for,
    load_emulator_config,
)


def test_yaml_config_loads_rules_latency_and_hang(tmp_path: Path) -> None:
    path = tmp_path / "faults.yaml"
    path.write_text(
        "port: 9100\n"
        "hang_s: 5\n"
        "latency: {base: 0.2, providers: {openai: 0.5}}\n"
        "rules:\n"
        "  - {provider: openai, kind: rate_limit, retry_after: 2, first_n: 3}\n",
        encoding="utf-8",
    )
    config = load_emulator_config(path)
    assert config.port == 9100 and config.hang_s == 5
    assert config.latency.providers == {"openai": 0.5}
    (rule,) = config.rules
    assert (rule.kind, rule.retry_after, rule.first_n) == ("rate_limit", 2, 3)


def test_json_config_loads_too(tmp_path: Path) -> None:
    path = tmp_path / "faults.json"
    path.write_text(json.dumps({"rules": [{"kind": "disconnect", "fraction": 0.1}]}))
    assert load_emulator_config(path).rules[0].kind == "disconnect"


def test_empty_file_gives_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("")
    assert load_emulator_config(path).rules == []


def test_invalid_config_error_names_the_field(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("rules:\n  - {kind: status, fraction: 2}\n")
    with pytest.raises(EmulatorConfigError, match=r"rules\[0\]\.fraction"):
        load_emulator_config(path)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(EmulatorConfigError, match="missing.yaml"):
        load_emulator_config(tmp_path / "missing.yaml")


def test_latency_prefers_model_then_provider_then_base() -> None:
    settings = LatencySettings(base=0.1, providers={"openai": 0.5}, models={"openai/gpt-5.4": 1.0})
    assert latency_for(settings, "openai", "gpt-5.4") == 1.0
    assert latency_for(settings, "openai", "o3") == 0.5
    assert latency_for(settings, "mistral", "gpt-5.4") == 0.1
