"""Admission against a real Redis: circuits, the key pool and what a refused call hands back."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
import redis

from broker.jobs import TargetRef
from broker.keys import Keys
from broker.script_batch import ScriptCall
from routing.circuit import CircuitState, key_target, model_target
from tests.redis_writes import count_writes
from tests.routing.factories import catalog, catalog_data
from workers.admission import Admitted, Gatekeeper, Skip

pytestmark = pytest.mark.integration

TARGET = TargetRef(
    provider="alpha", model="a1", model_id="alpha-small-1", tier="fast", queue="fast.alpha"
)
KEY = key_target("alpha", "ALPHA_API_KEY")
MODEL = model_target("alpha", "a1")


@pytest.fixture
def gatekeeper(redis_url: str) -> Iterator[Gatekeeper]:
    data = catalog_data()
    data["providers"]["alpha"]["circuit"] = {"min_calls": 1, "open_s": 1}
    client = redis.Redis.from_url(redis_url)
    keys = Keys(prefix=f"test-{uuid.uuid4().hex[:8]}")
    yield Gatekeeper(client, keys, catalog(data), environ={"ALPHA_API_KEY": "sk-alpha"})
    client.close()


def _open(gatekeeper: Gatekeeper, target: str) -> None:
    breakers = gatekeeper.breakers("alpha")
    breakers.record(target, success=False, latency_s=1.0, permit=breakers.before_call(target))


def test_a_provider_with_one_key_is_admitted_in_one_round_trip(
    gatekeeper: Gatekeeper, monkeypatch: pytest.MonkeyPatch
) -> None:
    gatekeeper.admit(TARGET, 10)  # the first call loads the scripts
    sent = count_writes(monkeypatch)

    ticket = gatekeeper.admit(TARGET, 10)

    assert isinstance(ticket, Admitted)
    assert (ticket.key_id, ticket.api_key) == ("ALPHA_API_KEY", "sk-alpha")
    assert len(sent) == 1


def test_calls_run_alongside_admission_share_its_round_trip_and_hand_back_their_replies(
    gatekeeper: Gatekeeper, monkeypatch: pytest.MonkeyPatch
) -> None:
    echo = gatekeeper.client.register_script("return ARGV[1]")
    gatekeeper.admit(TARGET, 10, alongside=[ScriptCall(echo, [], ["x"])])  # loads the scripts
    sent = count_writes(monkeypatch)

    ticket = gatekeeper.admit(TARGET, 10, alongside=[ScriptCall(echo, [], ["held"])])

    assert isinstance(ticket, Admitted)
    assert ticket.alongside == (b"held",)
    assert len(sent) == 1


def test_an_open_model_circuit_skips_and_hands_back_the_keys_probe_slot(
    gatekeeper: Gatekeeper,
) -> None:
    _open(gatekeeper, KEY)
    time.sleep(1.1)  # the key's circuit is half-open now: one probe slot
    _open(gatekeeper, MODEL)

    gate = gatekeeper.admit(TARGET, 10)

    assert isinstance(gate, Skip) and gate.error_class == "CircuitOpen"
    probe = gatekeeper.breakers("alpha").before_call(KEY)
    assert probe.allowed and probe.state is CircuitState.HALF_OPEN


def test_a_provider_whose_only_key_is_taken_out_is_skipped(gatekeeper: Gatekeeper) -> None:
    gatekeeper._pools["alpha"].take_out("ALPHA_API_KEY", "401: invalid key")

    gate = gatekeeper.admit(TARGET, 10)

    assert isinstance(gate, Skip) and gate.error_class == "AuthError"
