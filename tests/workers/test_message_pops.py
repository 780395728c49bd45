"""The worker's transport takes a message off its queue and records it as unacknowledged in one
script (workers/message_pops.py), on a real Redis through kombu's own poll loop: a worker that
dies the moment its message arrives leaves it in the unacked records, not nowhere."""

from __future__ import annotations

import socket
from typing import Any, cast

import pytest
import redis
from kombu import Connection, Consumer, Exchange, Producer, Queue
from kombu.message import Message

from broker.keys import CELERY_UNACKED, CELERY_UNACKED_INDEX, celery_queue_bell
from tests.redis_writes import command_calls
from tests.workers.conftest import TRANSPORT_QUEUE as QUEUE
from tests.workers.conftest import publish_one, transport_queue
from workers.broker_transport import TRANSPORT

BELL = celery_queue_bell(QUEUE)


class _Killed(Exception):
    """The worker's process ending right after its message reached it."""


def _consume(connection: Connection, no_ack: bool = False, timeout: float = 5.0) -> list[Any]:
    """Drain one message through the poll loop; the bodies received (acknowledged)."""
    got: list[Any] = []

    def on_message(body: Any, message: Message) -> None:
        got.append(body)
        if not no_ack:
            message.ack()

    with Consumer(connection.default_channel, [transport_queue()], callbacks=[on_message],
                  no_ack=no_ack):  # fmt: skip
        connection.drain_events(timeout=timeout)
    return got


def test_a_message_is_in_the_unacked_records_the_moment_it_reaches_the_worker(
    connection: Connection, client: redis.Redis, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    publish_one(connection)

    def killed(*args: Any, **kwargs: Any) -> None:
        raise _Killed  # before any of kombu's or Celery's handling of the message

    monkeypatch.setattr(connection.transport, "_deliver", killed)
    with pytest.raises(_Killed):
        _consume(connection)

    # kombu's BRPOP left it nowhere here: off its list, and recorded only in the next step.
    assert client.llen(QUEUE) == 0
    assert client.hlen(CELERY_UNACKED) == 1 and client.zcard(CELERY_UNACKED_INDEX) == 1
    with Connection(redis_url, transport=TRANSPORT,
                    transport_options={"visibility_timeout": 0}) as survivor:  # fmt: skip
        cast(Any, survivor.default_channel).qos.restore_visible()  # a live worker's sweep
        assert client.llen(QUEUE) == 1 and client.hlen(CELERY_UNACKED) == 0
        assert _consume(survivor) == [{"n": 1}]


def test_a_delivered_message_is_recorded_once_and_its_ack_removes_the_record(
    connection: Connection, client: redis.Redis
) -> None:
    publish_one(connection)
    seen: list[int] = []

    def on_message(body: Any, message: Message) -> None:
        seen.append(int(client.hlen(CELERY_UNACKED)))
        message.ack()

    with Consumer(connection.default_channel, [transport_queue()], callbacks=[on_message]):
        connection.drain_events(timeout=5)

    assert seen == [1]  # recorded while its task runs
    assert client.hlen(CELERY_UNACKED) == 0 and client.zcard(CELERY_UNACKED_INDEX) == 0


def test_every_publish_through_the_transport_rings_its_queues_bell(
    connection: Connection, client: redis.Redis
) -> None:
    publish_one(connection)
    publish_one(connection)

    assert client.llen(QUEUE) == 2 and client.llen(BELL) == 2


def test_a_pop_trims_the_bell_to_the_messages_left_and_an_empty_look_clears_it(
    connection: Connection, client: redis.Redis
) -> None:
    publish_one(connection)
    publish_one(connection)
    client.lpush(BELL, *[1] * 5)  # stale rings: a publisher rang for messages taken elsewhere

    assert _consume(connection) == [{"n": 1}]
    assert client.llen(BELL) == 1  # one message left, one ring

    assert _consume(connection) == [{"n": 1}]
    assert client.exists(BELL) == 0
    client.lpush(BELL, 1)  # a ring with nothing behind it
    with pytest.raises(socket.timeout):
        _consume(connection, timeout=1.5)
    assert client.exists(BELL) == 0


def test_a_message_pushed_without_a_ring_is_taken_when_the_wait_times_out(
    connection: Connection, client: redis.Redis
) -> None:
    publish_one(connection)
    client.delete(BELL)  # as a publisher outside cascade's transport would leave it

    assert _consume(connection, timeout=5) == [{"n": 1}]


def test_a_restored_message_rings_its_queues_bell(
    connection: Connection, client: redis.Redis
) -> None:
    publish_one(connection)
    message = cast(Any, transport_queue()(connection.default_channel)).get(no_ack=False)
    client.delete(BELL)

    message.requeue()  # kombu's restore onto the list

    assert client.llen(QUEUE) == 1 and client.llen(BELL) == 1


def test_a_consumer_without_acks_keeps_kombus_own_pop_and_leaves_no_record(
    connection: Connection, client: redis.Redis
) -> None:
    publish_one(connection)

    assert _consume(connection, no_ack=True) == [{"n": 1}]
    assert client.hlen(CELERY_UNACKED) == 0


def _pops(client: redis.Redis) -> int:
    return command_calls(client, "evalsha") + command_calls(client, "eval")  # EVAL on NOSCRIPT


def test_while_messages_wait_a_worker_pops_each_at_once_without_waiting_on_a_bell(
    connection: Connection, client: redis.Redis
) -> None:
    for _ in range(5):
        publish_one(connection)
    client.delete(BELL)  # pushed without rings: only the first look waits for its timeout
    waits, pops = command_calls(client, "brpop"), _pops(client)

    received = [body for _ in range(5) for body in _consume(connection, timeout=5)]

    assert received == [{"n": 1}] * 5
    assert command_calls(client, "brpop") - waits == 1  # the first look; each next one pops at once
    assert _pops(client) - pops >= 5


def test_a_reply_queue_that_expires_has_its_bell_expire_with_it(
    connection: Connection, client: redis.Redis
) -> None:
    queue = Queue("transport-test-reply", Exchange("transport-test-reply"),
                  routing_key="transport-test-reply", expires=10)  # fmt: skip
    Producer(connection.default_channel).publish(
        {"n": 1}, exchange=queue.exchange, routing_key=queue.routing_key, declare=[queue]
    )
    try:
        assert 0 < client.pttl(celery_queue_bell("transport-test-reply")) <= 10_000
    finally:
        client.delete("transport-test-reply", celery_queue_bell("transport-test-reply"))


def test_closing_a_channel_with_a_wait_in_flight_takes_no_new_message(
    connection: Connection, client: redis.Redis
) -> None:
    got: list[Any] = []
    channel: Any = connection.default_channel  # kombu's stubs give it no close()
    consumer = Consumer(channel, [transport_queue()], callbacks=[lambda body, m: got.append(body)])
    consumer.consume()
    with pytest.raises(socket.timeout):
        connection.drain_events(timeout=0.2)  # the wait on the bell is left in flight
    publish_one(connection)  # its ring ends that wait

    channel.close()  # kombu reads the wait's reply out before it lets go

    assert got == [] and client.llen(QUEUE) == 1 and client.hlen(CELERY_UNACKED) == 0


def test_under_maxmemory_a_pop_still_records_what_it_takes(
    connection: Connection, client: redis.Redis
) -> None:
    publish_one(connection)
    seen: list[int] = []

    def on_message(body: Any, message: Message) -> None:
        seen.append(int(client.hlen(CELERY_UNACKED)))

    consumer = Consumer(connection.default_channel, [transport_queue()], callbacks=[on_message])
    consumer.consume()  # declared before the limit
    limit = str(client.config_get("maxmemory")["maxmemory"])
    client.config_set("maxmemory", 1)  # every write that can grow memory is refused now
    try:
        # Redis refuses a script's growing writes only until its first write: the pop comes
        # first, so the record behind it is never refused with the message already taken.
        connection.drain_events(timeout=5)
    finally:
        client.config_set("maxmemory", limit)
        consumer.cancel()

    assert seen == [1] and client.llen(QUEUE) == 0
