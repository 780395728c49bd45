"""``cascade health``'s data: circuits and refused keys as every worker shares them in Redis."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from broker.catalog_file import load_catalog
from broker.health import provider_health
from broker.keys import Keys
from routing.circuit import CircuitState, model_target
from routing.circuit_store import CircuitBreakers
from routing.key_pool import KeyPool

pytestmark = pytest.mark.integration

CATALOG = str(Path(__file__).parents[1] / "fixtures" / "catalog.yaml")
ENV = {"ALPHA_API_KEY": "a", "BETA_API_KEY": "b", "BETA_API_KEY_2": "b2", "GAMMA_API_KEY": "g"}


@pytest.fixture()
def client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


def test_health_shows_an_open_circuit_with_its_error_rate_and_a_refused_key(
    client: redis.Redis,
) -> None:
    keys = Keys(prefix="health-test")
    for key in client.scan_iter("health-test:*"):
        client.delete(key)
    catalog = load_catalog(CATALOG, environ={})
    breakers = CircuitBreakers(client, keys, catalog.provider("alpha").circuit)
    target = model_target("alpha", "a1")
    for _ in range(catalog.provider("alpha").circuit.min_calls):
        permit = breakers.before_call(target)
        breakers.record(target, success=False, latency_s=0.25, permit=permit)
    KeyPool(client, keys, "beta", ["BETA_API_KEY", "BETA_API_KEY_2"]).take_out(
        "BETA_API_KEY_2", "401: Incorrect API key provided"
    )

    found = {item.provider: item for item in provider_health(client, keys, catalog, ENV)}

    alpha = found["alpha"].models["a1"]
    assert (alpha.state, alpha.error_rate) == (CircuitState.OPEN, 1.0)
    assert alpha.latency_s == pytest.approx(0.25)
    assert found["beta"].models["b1"].state == CircuitState.CLOSED
    assert list(found["beta"].keys) == ["BETA_API_KEY", "BETA_API_KEY_2"]
    assert found["beta"].taken_out["BETA_API_KEY_2"].reason.startswith("401")
