"""Several scripts in one round trip against a real Redis, including one that lost its scripts."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis
from redis.connection import AbstractConnection

from broker.script_batch import ScriptCall, run_script, run_scripts

pytestmark = pytest.mark.integration

_INCR = "return redis.call('INCRBY', KEYS[1], ARGV[1])"
_FAIL = "return redis.error_reply('boom')"


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    connection = redis.Redis.from_url(redis_url)
    yield connection
    connection.close()


@pytest.fixture
def key() -> str:
    return f"test-script-batch-{uuid.uuid4().hex[:8]}"


def _writes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    sent: list[int] = []
    original = AbstractConnection.send_packed_command

    def counted(self: AbstractConnection, command: object, check_health: bool = True) -> None:
        sent.append(1)
        original(self, command, check_health)  # type: ignore[no-untyped-call]

    monkeypatch.setattr(AbstractConnection, "send_packed_command", counted)
    return sent


def test_calls_run_in_order_in_one_round_trip_with_their_replies_parsed(
    client: redis.Redis, key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    incr = client.register_script(_INCR)
    client.script_load(_INCR)
    sent = _writes(monkeypatch)

    replies = run_scripts(
        client,
        [ScriptCall(incr, [key], [2]), ScriptCall(incr, [key], [3], parse=lambda n: f"now {n}")],
    )

    assert replies == [2, "now 5"]
    assert len(sent) == 1


def test_a_server_that_lost_its_scripts_runs_each_call_exactly_once(
    client: redis.Redis, key: str
) -> None:
    incr = client.register_script(_INCR)
    client.script_flush()  # as after a Redis restart

    replies = run_scripts(client, [ScriptCall(incr, [key], [1]), ScriptCall(incr, [key], [10])])

    assert replies == [1, 11]
    assert int(client.get(key) or 0) == 11


def test_an_error_is_raised_after_every_call_ran(client: redis.Redis, key: str) -> None:
    incr, fail = client.register_script(_INCR), client.register_script(_FAIL)

    with pytest.raises(redis.ResponseError, match="boom"):
        run_scripts(client, [ScriptCall(fail, [key], []), ScriptCall(incr, [key], [4])])

    assert int(client.get(key) or 0) == 4


def test_a_single_call_runs_alone(client: redis.Redis, key: str) -> None:
    incr = client.register_script(_INCR)
    client.script_flush()

    assert run_script(client, ScriptCall(incr, [key], [7], parse=int)) == 7
