"""The planner's live state read from Redis: open model circuits drop their models from routes."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis

from broker.keys import Keys
from routing.circuit import CircuitPolicy, key_target, model_target
from routing.circuit_store import CircuitBreakers
from routing.latency import LatencyBook
from routing.live_state import LiveStateReader, live_state
from routing.planner import LiveState, plan
from routing.spend import SpendLedger
from tests.routing.factories import Clock, catalog, job

pytestmark = pytest.mark.integration


@pytest.fixture
def breakers(redis_url: str) -> Iterator[CircuitBreakers]:
    client = redis.Redis.from_url(redis_url)
    keys = Keys(prefix=f"test-{uuid.uuid4().hex[:8]}")
    yield CircuitBreakers(client, keys, CircuitPolicy(min_calls=1, open_s=30), Clock())
    client.close()


def open_circuit(breakers: CircuitBreakers, target: str) -> None:
    permit = breakers.before_call(target)
    breakers.record(target, success=False, latency_s=1.0, permit=permit)


def test_nothing_open_is_an_empty_live_state(breakers: CircuitBreakers) -> None:
    assert live_state(breakers, catalog()) == LiveState()


def test_an_open_model_circuit_is_in_the_live_state_and_off_the_route(
    breakers: CircuitBreakers,
) -> None:
    open_circuit(breakers, model_target("alpha", "a1"))
    open_circuit(breakers, key_target("beta", "BETA_API_KEY"))  # a key circuit is no model's
    state = live_state(breakers, catalog())
    assert state.open_circuits == frozenset({("alpha", "a1")})
    route = plan(job(), catalog(), state)
    assert [target.model for target in route.targets] == ["b1", "g1", "b2"]
    assert route.dropped[0].reason == "circuit open for alpha/a1"


def test_a_half_open_model_circuit_stays_on_the_route_for_its_probe(
    breakers: CircuitBreakers,
) -> None:
    open_circuit(breakers, model_target("alpha", "a1"))
    assert isinstance(breakers.clock, Clock)
    breakers.clock.now += 30
    assert live_state(breakers, catalog()) == LiveState()


def _reader(breakers: CircuitBreakers, max_age_s: float, clock: Clock) -> LiveStateReader:
    return LiveStateReader(
        catalog(),
        breakers,
        SpendLedger(breakers.client, breakers.keys, catalog()),
        LatencyBook(breakers.client, breakers.keys),
        max_age_s=max_age_s,
        clock=clock,
    )


def test_a_reader_with_a_max_age_reads_redis_again_only_once_its_state_is_that_old(
    breakers: CircuitBreakers,
) -> None:
    clock = Clock()
    reader = _reader(breakers, 1.0, clock)
    assert reader.read("acme").open_circuits == frozenset()
    open_circuit(breakers, model_target("alpha", "a1"))

    clock.now += 0.5
    assert reader.read("acme").open_circuits == frozenset()  # still the kept state
    clock.now += 0.5
    assert reader.read("acme").open_circuits == frozenset({("alpha", "a1")})


def test_a_reader_without_a_max_age_reads_redis_every_time(breakers: CircuitBreakers) -> None:
    reader = _reader(breakers, 0.0, Clock())
    reader.read("acme")
    open_circuit(breakers, model_target("alpha", "a1"))

    assert reader.read("acme").open_circuits == frozenset({("alpha", "a1")})
