"""Several scripts in one round trip against a real Redis, including one that lost its scripts."""

from __future__ import annotations

import uuid

import pytest
import redis

from broker.script_batch import ScriptCall, run_script, run_scripts
from tests.redis_writes import count_writes

pytestmark = pytest.mark.integration

_INCR = "return redis.call('INCRBY', KEYS[1], ARGV[1])"
_FAIL = "return redis.error_reply('boom')"


@pytest.fixture
def key() -> str:
    return f"test-script-batch-{uuid.uuid4().hex[:8]}"


def test_calls_run_in_order_in_one_round_trip_with_their_replies_parsed(
    client: redis.Redis, key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    incr = client.register_script(_INCR)
    client.script_load(_INCR)
    sent = count_writes(monkeypatch)

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
