"""Each long-lived process's Redis pool holds more connections than redis-py 8's default of 100
(broker/redis_clients.py): a worker of 256 threads streaming jobs ran out of that default, and a
job whose delivery failed so waited out its claim, five minutes. On a real Redis."""

from __future__ import annotations

from pathlib import Path

import pytest

from broker.catalog_file import load_catalog
from broker.client import CascadeClient
from broker.redis_clients import async_redis_client, redis_client
from broker.settings import Settings
from workers.context import WorkerContext

pytestmark = pytest.mark.integration

CATALOG = str(Path(__file__).parents[1] / "fixtures" / "catalog.yaml")
AT_ONCE = 150  # more than redis-py 8's default pool of 100


def hold_at_once(pool: object, count: int) -> None:
    """Take ``count`` connections from ``pool`` together (each connected), then give them back."""
    taken = [pool.get_connection() for _ in range(count)]  # type: ignore[attr-defined]
    try:
        assert len({id(connection) for connection in taken}) == count
    finally:
        for connection in taken:
            pool.release(connection)  # type: ignore[attr-defined]


def test_a_workers_redis_client_serves_more_threads_at_once_than_redis_pys_default(
    redis_url: str,
) -> None:
    context = WorkerContext.from_settings(Settings(redis_url=redis_url, config=CATALOG))
    try:
        hold_at_once(context.store.client.connection_pool, AT_ONCE)
    finally:
        context.store.client.close()


def test_a_producers_redis_client_does_too(redis_url: str) -> None:
    settings = Settings(redis_url=redis_url, config=CATALOG)
    client = CascadeClient(settings, load_catalog(CATALOG))
    try:
        hold_at_once(client.redis.connection_pool, AT_ONCE)
    finally:
        client.close()


def test_the_pools_follow_the_setting_in_both_flavours(redis_url: str) -> None:
    settings = Settings(redis_url=redis_url, config=CATALOG, redis_max_connections=321)
    assert redis_client(settings).connection_pool.max_connections == 321
    assert async_redis_client(settings).connection_pool.max_connections == 321
    assert Settings(redis_url=redis_url, config=CATALOG).redis_max_connections == 10_000
