"""An idle offload poller sleeps: with nothing parked and no provider batch open, a real
``cascade offload`` on the default settings (a pass every 5 s, its wake channel subscribed)
sends Redis about two commands a second, counted by the server itself (INFO's
``total_commands_processed``). Offloading is on by default, so this is what every worker of a
batch-capable provider adds to an idle stack."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import redis

from broker.local_stack import LocalStack

pytestmark = pytest.mark.integration

WINDOW_S = 15.0


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    # the shipped catalog: openai, anthropic and google have batch modes
    with LocalStack(log_dir=tmp_path_factory.mktemp("offload-idle"),
                    extra_env={"CASCADE_PROFILE": "emulated",
                               "CASCADE_EMULATOR_URL": "http://127.0.0.1:9"}) as s:
        s.start_redis()
        yield s


def commands(client: redis.Redis) -> int:
    return int(client.info("stats")["total_commands_processed"])


@pytest.mark.system
def test_an_idle_poller_sends_about_two_commands_a_second(stack: LocalStack) -> None:
    client = redis.Redis.from_url(str(stack.redis_url))
    stack.start_offload()
    try:
        time.sleep(3)  # started and subscribed
        before = commands(client)
        time.sleep(WINDOW_S)
        sent = commands(client) - before - 1  # less this test's own INFO
    finally:
        stack.kill_offload()
        client.close()
    rate = sent / WINDOW_S
    # per pass of three providers: three priorities' tenant sets each, the open records, the
    # next due time: 11 commands every 5 s
    assert rate < 3.0, f"{rate:.2f} commands/s"
