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

And it takes a message off its queue and records it as unacknowledged in one script
(``workers/message_pops.py``): the poll loop waits on the queues' bells instead of the lists,
and ``QoS.append`` then only remembers a message the script recorded. A message is then always
on a list or in the unacked records, whenever a worker or Redis stops. kombu's own ``BRPOP``
and append stay for a channel with a ``no_ack`` consumer (the script would record a message
nobody acknowledges) or a global key prefix. Every push through this transport (a retry, a
reroute, a restore) rings its queue's bell.

The producer does not use this: it writes Celery's messages itself (``broker/task_messages.py``).
"""

from __future__ import annotations

import threading
import time
from queue import Empty
from typing import Any

import structlog
from kombu.transport import redis as kombu_redis
from kombu.transport import virtual
from kombu.utils.encoding import bytes_to_str
from kombu.utils.json import dumps, loads

from broker.keys import celery_queue_bell
from workers.message_acks import SETTLED
from workers.message_pops import PopCall, pop_call

__all__ = ["TRANSPORT", "Channel", "QoS", "Transport", "restore_orphans"]

log = structlog.get_logger("cascade.worker")

# (payload, exchange, routing key) of messages popped whose unacked record could not be written.
_ORPHANS: list[tuple[Any, str, str]] = []
_ORPHANS_LOCK = threading.Lock()


class QoS(kombu_redis.QoS):
    # The tag of the message being delivered whose unacked records the pop script wrote.
    recorded: str | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        SETTLED.enable()  # this process's deliveries may acknowledge their own messages

    def append(self, message: Any, delivery_tag: Any) -> None:
        if delivery_tag is not None and delivery_tag == self.recorded:
            self.recorded = None
            virtual.QoS.append(self, message, delivery_tag)  # recorded in Redis: only remember
            return
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


# kombu's stubs know little of its Redis channel's private methods, which this one overrides.
_RedisChannel: Any = kombu_redis.Channel


class Channel(_RedisChannel):  # type: ignore[misc]
    QoS = QoS
    _shared: tuple[Any, Any] | None = None  # (connection pool, the client built on it)
    _connparams_seen: dict[str, Any] | None = None  # what the last pool was built with
    _no_ack_consumer = False  # a consumer without acks: its messages must not be recorded
    # What the command in flight is: a wait on these queues' bells, or the pop itself (sent
    # straight away when the last pop left messages on its queue).
    _waiting_on: list[str] | None = None
    _pop_in_flight: PopCall | None = None
    _more_waiting = False

    def _records_pops(self) -> bool:
        return not self._no_ack_consumer and not self.global_keyprefix

    def basic_consume(self, queue: Any, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("no_ack", args[0] if args else False):
            self._no_ack_consumer = True
        return super().basic_consume(queue, *args, **kwargs)

    def _pop_call(self, queues: list[str]) -> PopCall:
        lists = [self._q_for_pri(queue, pri) for pri in self.priority_steps for queue in queues]
        return pop_call(self.unacked_key, self.unacked_index_key, queues, lists, time.time())

    def _brpop_start(self, timeout: Any = None) -> None:
        if not self._records_pops():
            return super()._brpop_start(timeout)  # type: ignore[no-any-return]
        queues = self._queue_cycle.consume(len(self.active_queues))
        if not queues:
            return None
        connection = self.client.connection
        self._in_poll = connection
        self._brpop_sent_at = time.monotonic()
        if self._more_waiting:
            call = self._pop_call(queues)
            call.send(connection)
            self._pop_in_flight = call
        else:
            wait = self.brpop_timeout if timeout is None else timeout
            connection.send_command("BRPOP", *map(celery_queue_bell, queues), wait or 0)
            self._waiting_on = queues
        return None

    def _brpop_read(self, **options: Any) -> bool:
        call, queues = self._pop_in_flight, self._waiting_on
        if call is None and queues is None:
            return super()._brpop_read(**options)  # type: ignore[no-any-return]
        self._pop_in_flight = self._waiting_on = None
        self._more_waiting = False
        client = self.client
        connection = client.connection
        try:
            try:
                if call is None:
                    assert queues is not None
                    # A ring, or none when the wait timed out: look all the same (a message
                    # pushed without a ring is taken within one wait).
                    client.parse_response(connection, "BRPOP", **options)
                    if getattr(self, "_closing", False):
                        raise Empty()  # kombu's close reads the wait out: take nothing new
                    call = self._pop_call(queues)
                    call.send(connection)
                popped = call.read(client, connection)
            except self.connection_errors:
                connection.disconnect()  # the next wait reconnects, as kombu's read does
                raise
            if popped is None:
                raise Empty()
            self._more_waiting = popped.left > 0
            destination = popped.key.rsplit(self.sep, 1)[0]
            self._queue_cycle.rotate(destination)
            qos: Any = self.qos
            qos.recorded = popped.tag
            try:
                self.connection._deliver(loads(bytes_to_str(popped.payload)), destination)
            finally:
                qos.recorded = None
            return True
        finally:
            self._in_poll = None
            flush = getattr(self, "_flush_brpop_reauth", None)  # kombu 5.7's, after each read
            if flush is not None:
                flush()

    def _put(self, queue: str, message: Any, **kwargs: Any) -> None:
        # A queue that expires (a control reply's) has its bell expire with it: its consumer
        # (no_ack) never takes the rings.
        bell, expires = celery_queue_bell(queue), (self._expires or {}).get(queue)
        batch = kwargs.get("_publish_batch")
        if batch is not None:
            super()._put(queue, message, **kwargs)
            batch.add("lpush", bell, 1)  # after the message's own push
            if expires is not None:
                batch.add("pexpire", bell, expires)
            return
        key = self._q_for_pri(queue, self._get_message_priority(message, reverse=False))
        with self.conn_or_acquire() as client, client.pipeline(transaction=False) as pipe:
            pipe.lpush(key, dumps(message))
            pipe.lpush(bell, 1)
            if expires is not None:
                for step in self.priority_steps:
                    pipe.pexpire(self._q_for_pri(queue, step), expires)
                pipe.pexpire(bell, expires)
            pipe.execute()

    def _do_restore_message(
        self, payload: Any, exchange: Any, routing_key: Any, pipe: Any, leftmost: bool = False
    ) -> None:
        super()._do_restore_message(payload, exchange, routing_key, pipe, leftmost)
        try:
            queues = self._lookup(exchange, routing_key)
        except Exception:  # kombu logged it already; a ring is only a hint
            return
        for queue in queues:
            pipe.lpush(celery_queue_bell(queue), 1)

    def _connparams(self, asynchronous: bool = False) -> dict[str, Any]:
        transport = self.connection
        seen = self._connparams_seen
        if seen is not None and (transport is None or transport.client is None):
            return dict(seen)  # detached (see the module docstring): reach the same server
        params: dict[str, Any] = super()._connparams(asynchronous=asynchronous)
        if not asynchronous:  # the poll loop's connection class is bound to this transport
            self._connparams_seen = dict(params)
        return params

    def _create_client(self, asynchronous: bool = False) -> Any:
        if asynchronous:  # the poll loop's own connections stay kombu's business
            return super()._create_client(asynchronous=True)
        pool, shared = self.pool, self._shared
        if shared is None or shared[0] is not pool:  # kombu replaced its pool: follow it
            shared = (pool, super()._create_client())
            self._shared = shared
        return shared[1]


class Transport(kombu_redis.Transport):
    Channel = Channel
