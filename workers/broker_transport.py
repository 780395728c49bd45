"""kombu's Redis transport for the worker, minus a client object built per command.

Outside its poll loop kombu's Redis channel builds a new ``redis.Redis`` for every command it
sends: each task event published for Flower and each unacked-message bookkeeping step of a late
ack, five per job. redis-py's client constructor is not cheap (it copies its response callback
table), and a profile of a loaded worker put about a twentieth of its CPU there
(docs/performance.md). Those clients all share the channel's one connection pool and redis-py
clients are thread-safe, so one per channel and pool does the same work.

The producer does not use this: it writes Celery's messages itself (``broker/client.py``).
"""

from __future__ import annotations

from typing import Any

from kombu.transport import redis as kombu_redis

__all__ = ["TRANSPORT", "Channel", "Transport"]

# The value of Celery's ``broker_transport`` setting that selects this transport.
TRANSPORT = f"{__name__}:Transport"


class Channel(kombu_redis.Channel):
    _shared: tuple[Any, Any] | None = None  # (connection pool, the client built on it)

    def _create_client(self, asynchronous: bool = False) -> Any:
        if asynchronous:  # the poll loop's own connections stay kombu's business
            return super()._create_client(asynchronous=True)  # type: ignore[misc]
        pool, shared = self.pool, self._shared
        if shared is None or shared[0] is not pool:  # kombu replaced its pool: follow it
            shared = (pool, super()._create_client())  # type: ignore[misc]
            self._shared = shared
        return shared[1]


class Transport(kombu_redis.Transport):
    Channel = Channel
