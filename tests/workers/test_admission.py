"""Admission against a real Redis: circuits, the key pool and what a refused call hands back."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
import redis

from adapters.errors import AuthError, ProviderError, RateLimited
from broker.jobs import TargetRef
from broker.keys import Keys
from broker.script_batch import ScriptCall
from routing.circuit import CircuitState, key_target, model_target
from tests.redis_writes import count_writes
from tests.routing.factories import catalog, catalog_data
from workers.admission import Admitted, Gatekeeper, Skip, Wait

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


def _two_keyed(redis_url: str) -> Gatekeeper:
    data = catalog_data()
    data["providers"]["alpha"]["api_key_env"] = ["ALPHA_API_KEY", "ALPHA_API_KEY_2"]
    data["providers"]["alpha"]["circuit"] = {"min_calls": 1, "open_s": 30}
    environ = {"ALPHA_API_KEY": "sk-alpha", "ALPHA_API_KEY_2": "sk-alpha-2"}
    keys = Keys(prefix=f"test-{uuid.uuid4().hex[:8]}")
    return Gatekeeper(redis.Redis.from_url(redis_url), keys, catalog(data), environ=environ)


def _called(gatekeeper: Gatekeeper, error: ProviderError | None) -> Admitted:
    ticket = gatekeeper.admit(TARGET, 10)
    assert isinstance(ticket, Admitted)
    gatekeeper.settle(TARGET, ticket, error=error, latency_s=0.1)
    return ticket


def test_429s_never_open_the_key_circuit_nor_make_the_key_unusable(
    gatekeeper: Gatekeeper,
) -> None:
    # The circuit opens on the first counted failure (min_calls 1): 429s must not count.
    for _ in range(30):
        _called(gatekeeper, RateLimited("slow down", status_code=429))

    status = gatekeeper.breakers("alpha").snapshot([KEY])[KEY]
    assert (status.state, status.failures) == (CircuitState.CLOSED, 0)
    assert isinstance(gatekeeper.admit(TARGET, 10), Admitted)


def test_a_429s_retry_after_holds_the_key_for_every_worker_then_lets_it_go(
    gatekeeper: Gatekeeper,
) -> None:
    _called(gatekeeper, RateLimited("slow down", status_code=429, retry_after=0.5))

    gate = gatekeeper.admit(TARGET, 10)

    assert isinstance(gate, Wait) and 0.3 < gate.seconds <= 0.5
    time.sleep(gate.seconds + 0.05)
    assert isinstance(gatekeeper.admit(TARGET, 10), Admitted)


def test_a_held_key_is_passed_over_for_another_key_in_rotation(redis_url: str) -> None:
    gatekeeper = _two_keyed(redis_url)
    held = _called(gatekeeper, RateLimited("slow down", status_code=429, retry_after=30))

    keys_used = set()
    for _ in range(4):
        ticket = gatekeeper.admit(TARGET, 10)
        assert isinstance(ticket, Admitted)
        keys_used.add(ticket.key_id)
        gatekeeper.cancel(TARGET, ticket)
    assert keys_used == {"ALPHA_API_KEY", "ALPHA_API_KEY_2"} - {held.key_id}


def test_every_key_held_by_429s_is_a_wait_never_no_usable_api_key(redis_url: str) -> None:
    gatekeeper = _two_keyed(redis_url)
    _called(gatekeeper, RateLimited("slow down", status_code=429, retry_after=20))
    _called(gatekeeper, RateLimited("slow down", status_code=429, retry_after=10))

    gate = gatekeeper.admit(TARGET, 10)

    assert isinstance(gate, Wait) and 9 < gate.seconds <= 10


def test_keys_refused_by_the_provider_are_still_no_usable_api_key(redis_url: str) -> None:
    gatekeeper = _two_keyed(redis_url)
    _called(gatekeeper, AuthError("bad key", status_code=401))
    _called(gatekeeper, AuthError("bad key", status_code=401))

    gate = gatekeeper.admit(TARGET, 10)

    assert isinstance(gate, Skip) and gate.error_class == "AuthError"
