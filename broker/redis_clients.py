"""The Redis clients of cascade's long-lived processes, with their connection pools sized.

redis-py 8 caps a client's connection pool at 100 unless told otherwise (earlier releases left
it unbounded). A worker's threads, and the API's waiting callers, each hold one connection of
their process's pool while they use it, so a worker of 256 threads streaming jobs ran out
("Too many connections": a ``MaxConnectionsError``, which is a ``ConnectionError``), took it for
Redis being away and handed its messages back with their claims still held: each of those jobs
waited out its claim, five minutes, before it ran. Every long-lived client is built here, with
``Settings.redis_max_connections`` connections at most (10,000 by default, Redis's own default
``maxclients``): the bound that matters is the server's.
"""

from __future__ import annotations

from typing import Any

import redis
import redis.asyncio as aioredis

from broker.settings import Settings

__all__ = ["async_redis_client", "redis_client"]


def redis_client(settings: Settings, **options: Any) -> redis.Redis:
    """A client of ``settings.redis_url`` whose pool holds up to the configured connections."""
    return redis.Redis.from_url(
        settings.redis_url, max_connections=settings.redis_max_connections, **options
    )


def async_redis_client(settings: Settings, **options: Any) -> aioredis.Redis:
    """The same for asyncio (the API's waits and streams)."""
    return aioredis.Redis.from_url(
        settings.redis_url, max_connections=settings.redis_max_connections, **options
    )
