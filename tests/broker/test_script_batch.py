"""Several scripts in one round trip, run by Redis as one folded script, against a real Redis,
including one that lost its scripts."""

from __future__ import annotations

import uuid

import pytest
import redis

from broker.script_batch import ScriptCall, run_script, run_scripts
from tests.redis_writes import command_calls, count_writes

pytestmark = pytest.mark.integration

_INCR = "return redis.call('INCRBY', KEYS[1], ARGV[1])"
_FAIL = "return redis.error_reply('boom')"
_RAISE = "return redis.call('LPUSH', KEYS[1], 'x')"  # on a string key: WRONGTYPE, raised
_NOTHING = "redis.call('GET', KEYS[1])"  # a nil reply
_NESTED = "return {ARGV[1], {tonumber(ARGV[2]), 'inner'}, #KEYS}"


@pytest.fixture
def key() -> str:
    return f"test-script-batch-{uuid.uuid4().hex[:8]}"


def test_calls_run_in_order_as_one_script_in_one_round_trip_with_their_replies_parsed(
    client: redis.Redis, key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    incr = client.register_script(_INCR)
    calls = [ScriptCall(incr, [key], [2]), ScriptCall(incr, [key], [3], parse=lambda n: f"now {n}")]
    run_scripts(client, calls)  # the folded script loaded
    scripts_before = command_calls(client, "evalsha")
    sent = count_writes(monkeypatch)

    replies = run_scripts(client, calls)
    round_trips = len(sent)

    assert replies == [7, "now 10"]
    assert round_trips == 1
    assert command_calls(client, "evalsha") - scripts_before == 1


def test_each_call_gets_its_own_keys_and_arguments_and_its_reply_whole(
    client: redis.Redis, key: str
) -> None:
    incr, nested = client.register_script(_INCR), client.register_script(_NESTED)

    replies = run_scripts(
        client,
        [
            ScriptCall(nested, [key, f"{key}:b"], ["first", 5]),
            ScriptCall(incr, [f"{key}:c"], [4]),
            ScriptCall(nested, [], ["third", 6]),
        ],
    )

    assert replies == [[b"first", [5, b"inner"], 2], 4, [b"third", [6, b"inner"], 0]]
    assert client.get(f"{key}:c") == b"4"


def test_a_nil_reply_keeps_its_place_among_the_replies(client: redis.Redis, key: str) -> None:
    nothing, incr = client.register_script(_NOTHING), client.register_script(_INCR)

    replies = run_scripts(client, [ScriptCall(nothing, [key], []), ScriptCall(incr, [key], [1])])

    assert replies == [None, 1]


def test_a_script_that_raises_leaves_the_others_running_and_its_error_is_raised(
    client: redis.Redis, key: str
) -> None:
    raising, incr = client.register_script(_RAISE), client.register_script(_INCR)
    client.set(key, "5")

    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        run_scripts(client, [ScriptCall(raising, [key], []), ScriptCall(incr, [key], [4])])

    assert int(client.get(key) or 0) == 9


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
