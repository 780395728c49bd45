"""kombu's Redis transport for the worker, minus a client object built per command.

Outside its poll loop kombu's Redis channel builds a new ``redis.Redis`` for every command it
sends: each task event published for Flower and each unacked-message bookkeeping step of a late
ack, five per job. redis-py's client constructor is not cheap (it copies its response callback
table), and a profile of a loaded worker put about a twentieth of its CPU there
(docs/performance.md). Those clients all share the channel's one connection pool and redis-py
clients are thread-safe, so one per channel and pool does the same work.

It also keeps a channel able to reach Redis after its transport let go of its connection. On a
connection loss Celery's consumer calls ``Connection.collect()``, which detaches the transport
(``transport.client = None``) even when it could not close every channel (a channel caught in
its BRPOP read raises there, and kombu moves on). The consumer then closes the connection again;
that channel's close puts its unacknowledged messages back, which needs a fresh pool, and kombu
builds one from ``transport.client.hostname``: an AttributeError, which Celery does not count as
a connection error, so the whole worker exited ("Unrecoverable error") with calls in flight. The
channel remembers the parameters it last connected with and uses them once the transport has no
connection left: the restore then succeeds, or fails with a connection error Celery ignores
(the messages stay in the unacked set for the restore sweep), and the worker reconnects.

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
    _connparams_seen: dict[str, Any] | None = None  # what the last pool was built with

    def _connparams(self, asynchronous: bool = False) -> dict[str, Any]:
        transport = self.connection
        seen = self._connparams_seen
        if seen is not None and (transport is None or transport.client is None):
            return dict(seen)  # detached (see the module docstring): reach the same server
        params: dict[str, Any] = super()._connparams(asynchronous=asynchronous)  # type: ignore[misc]
        if not asynchronous:  # the poll loop's connection class is bound to this transport
            self._connparams_seen = dict(params)
        return params

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
