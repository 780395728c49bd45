"""What the worker's transport tests share: a kombu connection through cascade's transport on
the session's Redis, with a queue of their own and kombu's unacked records cleared around each
test, and a message delivered through it and not yet acknowledged."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from kombu import Connection, Exchange, Producer, Queue
from kombu.message import Message

from broker.keys import CELERY_UNACKED, CELERY_UNACKED_INDEX, celery_queue_bell
from workers.broker_transport import TRANSPORT

TRANSPORT_QUEUE = "transport-test"
_TOUCHED = (
    TRANSPORT_QUEUE,
    celery_queue_bell(TRANSPORT_QUEUE),
    CELERY_UNACKED,
    CELERY_UNACKED_INDEX,
)


@pytest.fixture
def connection(redis_url: str, client: redis.Redis) -> Iterator[Connection]:
    client.delete(*_TOUCHED)
    with Connection(redis_url, transport=TRANSPORT) as conn:
        yield conn
    client.delete(*_TOUCHED)


def transport_queue() -> Queue:
    return Queue(TRANSPORT_QUEUE, Exchange(TRANSPORT_QUEUE), routing_key=TRANSPORT_QUEUE)


def publish_one(connection: Connection) -> Queue:
    """Put ``{"n": 1}`` on the transport queue; the queue, to take it from."""
    queue = transport_queue()
    Producer(connection.default_channel).publish(
        {"n": 1}, exchange=queue.exchange, routing_key=TRANSPORT_QUEUE, declare=[queue]
    )
    return queue


def deliver_unacked(connection: Connection) -> Message:
    """A message delivered and not yet acknowledged: in the channel's unacked records."""
    message = publish_one(connection)(connection.default_channel).get(no_ack=False)
    assert message is not None and message.delivery_tag is not None
    return message
