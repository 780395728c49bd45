"""compose.yaml and the Dockerfile: valid for the Compose Specification, and every command a
service runs is one the ``cascade`` CLI has."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from click.testing import CliRunner

from broker.catalog_file import load_catalog
from broker.cli import main

ROOT = Path(__file__).parents[1]


def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
    return loaded


def _compose_schema() -> dict[str, Any]:
    """The Compose Specification's JSON schema (compose-spec/compose-spec, schema/
    compose-spec.json) as vendored by the check-jsonschema package, so no network is needed."""
    vendor = resources.files("check_jsonschema.builtin_schemas.vendor")
    schema: dict[str, Any] = json.loads(vendor.joinpath("compose-spec.json").read_text())
    return schema


def _errors(document: Any) -> list[str]:
    schema = _compose_schema()
    validator = jsonschema.validators.validator_for(schema)(schema)
    return [f"{error.json_path}: {error.message}" for error in validator.iter_errors(document)]


def _cascade_services() -> dict[str, dict[str, Any]]:
    """Services built from this repository: their command runs the image's `cascade`."""
    return {name: svc for name, svc in _compose()["services"].items() if "build" in svc}


def test_compose_file_is_valid_against_the_compose_specification() -> None:
    assert _errors(_compose()) == []


def test_the_schema_check_rejects_a_malformed_service() -> None:
    broken = {"services": {"w": {"image": "x", "healthcheck": {"interval": 30, "tests": []}}}}
    assert _errors(broken)


@pytest.mark.parametrize("service", sorted(_cascade_services()))
def test_every_cascade_service_runs_a_command_the_cli_has(service: str) -> None:
    command = _cascade_services()[service]["command"]
    result = CliRunner().invoke(main, [*command, "--help"])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("service", sorted(_cascade_services()))
def test_every_cascade_service_has_a_health_check_and_cascade_ones_exist(service: str) -> None:
    test = _cascade_services()[service]["healthcheck"]["test"]
    assert test[0] == "CMD"
    if test[1] == "cascade":
        result = CliRunner().invoke(main, [*test[2:], "--help"])
        assert result.exit_code == 0, result.output


def test_there_is_one_worker_per_provider_of_the_example_catalog() -> None:
    catalog = load_catalog(ROOT / "broker" / "cascade.yaml", profile="")
    workers = {
        svc["command"][2]
        for svc in _cascade_services().values()
        if svc["command"][:2] == ["worker", "--provider"]
    }
    assert workers == set(catalog.providers)


def test_redis_keeps_an_append_only_file_and_never_evicts() -> None:
    redis_service = _compose()["services"]["redis"]
    command = redis_service["command"]
    assert command[command.index("--appendonly") + 1] == "yes"
    assert command[command.index("--maxmemory-policy") + 1] == "noeviction"
    assert any(volume.endswith(":/data") for volume in redis_service["volumes"])
    assert redis_service["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]


def test_flower_requires_basic_auth_and_is_published_on_loopback_only() -> None:
    flower = _compose()["services"]["flower"]
    assert flower["environment"]["CASCADE_FLOWER_BASIC_AUTH"].startswith(
        "${CASCADE_FLOWER_BASIC_AUTH:?"
    )
    assert all(port.startswith("127.0.0.1:") for port in flower["ports"])


def test_the_emulator_runs_only_in_its_profile_and_workers_do_not_require_it() -> None:
    services = _compose()["services"]
    assert services["emulator"]["profiles"] == ["emulator"]
    for name, service in _cascade_services().items():
        if name != "emulator":
            assert service["depends_on"]["emulator"]["required"] is False


def test_the_image_installs_the_package_and_runs_cascade() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text().splitlines()
    assert dockerfile[[line.startswith("FROM") for line in dockerfile].index(True)] == (
        "FROM python:3.11-slim"
    )
    assert any("pip install ." in line for line in dockerfile)
    assert 'ENTRYPOINT ["cascade"]' in dockerfile


def test_the_api_gets_every_webhook_secret_the_example_catalog_names() -> None:
    catalog = load_catalog(ROOT / "broker" / "cascade.yaml", profile="")
    named = {p.batch.webhook_secret_env for p in catalog.providers.values()
             if p.batch is not None and p.batch.webhook_secret_env is not None}
    assert named == {"OPENAI_WEBHOOK_SECRET"}
    environment = _compose()["services"]["api"]["environment"]
    assert all(environment[name] == f"${{{name}:-}}" for name in named)
