"""The OpenAPI document lets a property-based fuzzer reach every operation, and schemathesis,
run against the app over a real Redis, gets no server error (5xx) from any of them.

The longer run, against a running ``cascade api``, is in docs/batches-and-api.md."""

from __future__ import annotations

import os
import re
from typing import Any

import hypothesis
import redis
import schemathesis
from hypothesis import HealthCheck, given
from schemathesis.generation.modes import GenerationMode
from starlette.testclient import TestClient

from tests.broker.http_api.conftest import AUTH_A, api_app

# Enough to find the malformed-input 500s this test was written against, in a few seconds;
# CASCADE_TEST_FUZZ_EXAMPLES=1000 for a longer run.
_EXAMPLES = int(os.environ.get("CASCADE_TEST_FUZZ_EXAMPLES", "25"))


def test_every_operation_declares_each_parameter_of_its_path(api: TestClient) -> None:
    document = api.get("/openapi.json").json()

    missing = [
        (method, path, name)
        for path, operations in document["paths"].items()
        for name in re.findall(r"{(\w+)}", path)
        for method, operation in operations.items()
        if not any(
            p["name"] == name and p["in"] == "path" and p["required"]
            for p in operation.get("parameters", [])
        )
    ]

    assert missing == []
    assert len(document["paths"]) >= 9


def test_schemathesis_finds_no_server_error_on_any_operation(
    api_redis: redis.Redis, redis_url: str
) -> None:
    errors: list[str] = []
    with api_app(redis_url, api_max_wait_s=0.2) as app:
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
        operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
        assert len(operations) >= 14
        for operation in operations:
            for mode in GenerationMode:
                _fuzz(operation, mode, errors)

    assert errors == []


def _fuzz(operation: Any, mode: GenerationMode, errors: list[str]) -> None:
    @hypothesis.settings(
        max_examples=_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(mode))
    def run(case: Any) -> None:
        response = case.call(headers=AUTH_A)
        if response.status_code >= 500:
            call = case.as_curl_command()
            errors.append(f"{operation.label} ({mode}): {response.status_code} {call}")

    run()
