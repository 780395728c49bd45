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

It also keeps a message Redis handed over just as it went away. kombu pops a message (BRPOP)
and then records it as unacknowledged (``QoS.append``: the ``unacked`` hash) in a second round
trip; when Redis stops between the two (a restart under load), the pop is kept (the append-only
file has it) and the record is not, and kombu drops the message it holds in memory on the
error: a job with no message anywhere, which never ends. ``QoS.append`` keeps such a message in
the process (``_ORPHANS``) and the next restore sweep, on a live connection, puts it back at the
head of its queue. A worker killed before that sweep still loses it, as it would lose any
message it holds; a message whose record was written but whose reply was lost is put back too,
and runs at most once more, which the job store's claim and result guard allow.

And it lets a delivery acknowledge its message itself, in its job's last round trip
(``workers/message_acks.py``): ``QoS.ack`` then only forgets the message in memory.

The producer does not use this: it writes Celery's messages itself (``broker/task_messages.py``).
"""

from __future__ import annotations

import threading
from typing import Any

import structlog
from kombu.transport import redis as kombu_redis
from kombu.transport import virtual

from workers.message_acks import SETTLED

__all__ = ["TRANSPORT", "Channel", "QoS", "Transport", "restore_orphans"]

log = structlog.get_logger("cascade.worker")

# (payload, exchange, routing key) of messages popped whose unacked record could not be written.
_ORPHANS: list[tuple[Any, str, str]] = []
_ORPHANS_LOCK = threading.Lock()


class QoS(kombu_redis.QoS):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        SETTLED.enable()  # this process's deliveries may acknowledge their own messages

    def append(self, message: Any, delivery_tag: Any) -> None:
        channel: Any = self.channel  # kombu's stubs type it as the virtual channel
        try:
            super().append(message, delivery_tag)
        except channel.connection_errors:
            delivery = message.delivery_info
            with _ORPHANS_LOCK:
                _ORPHANS.append((message._raw, delivery["exchange"], delivery["routing_key"]))
            log.warning("a message popped as Redis went away is kept for the restore sweep")
            raise

    def ack(self, delivery_tag: Any) -> None:
        if SETTLED.take(delivery_tag):  # its delivery removed its records (message_acks)
            virtual.QoS.ack(self, delivery_tag)
            return
        super().ack(delivery_tag)

    def reject(self, delivery_tag: Any, requeue: bool = False) -> None:
        if SETTLED.take(delivery_tag):  # acknowledged already: its job ended, nothing to hand back
            virtual.QoS.ack(self, delivery_tag)
            return
        super().reject(delivery_tag, requeue=requeue)

    def restore_visible(self, *args: Any, **kwargs: Any) -> None:
        restore_orphans(self.channel)
        super().restore_visible(*args, **kwargs)


def restore_orphans(channel: Any) -> int:
    """Put the messages kept by ``QoS.append`` back at the head of their queues; returns how
    many. Kept for the next sweep if Redis is still away."""
    with _ORPHANS_LOCK:
        taken = list(_ORPHANS)
        _ORPHANS.clear()
    if not taken:
        return 0
    try:
        with channel.conn_or_acquire() as client, client.pipeline() as pipe:
            for payload, exchange, routing_key in taken:
                channel._do_restore_message(payload, exchange, routing_key, pipe, leftmost=True)
            pipe.execute()
    except channel.connection_errors:
        with _ORPHANS_LOCK:
            _ORPHANS[:0] = taken
        return 0
    log.warning("messages popped as Redis went away put back on their queues", count=len(taken))
    return len(taken)


# The value of Celery's ``broker_transport`` setting that selects this transport.
TRANSPORT = f"{__name__}:Transport"


class Channel(kombu_redis.Channel):
    QoS = QoS
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
