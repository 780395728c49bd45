"""The worker's Redis transport closes a channel with messages in flight after its connection
was already torn down, as Celery does on a Redis restart, without an AttributeError."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

import pytest
import redis
from kombu import Connection

from tests.workers.conftest import TRANSPORT_QUEUE as QUEUE
from tests.workers.conftest import deliver_unacked, publish_one
from workers.broker_transport import Channel


def _deliver_one_unacked(connection: Connection) -> Channel:
    deliver_unacked(connection)
    channel = connection.default_channel
    assert isinstance(channel, Channel)
    return channel


def test_closing_a_channel_after_its_transport_lost_the_connection_restores_unacked_messages(
    connection: Connection, client: redis.Redis
) -> None:
    channel = _deliver_one_unacked(connection)
    # What Celery's connection-loss path leaves behind when collect() could not close the
    # channel (its BRPOP read failed): the transport detached from its connection, and the
    # channel's pools dropped, so the close must build a pool again from nothing.
    cast(Any, channel)._disconnect_pools()  # kombu's own step, untyped in its stubs
    connection.transport.client = None

    channel.close()

    assert client.llen(QUEUE) == 1  # the message in flight is back on its queue
    assert client.hlen("unacked") == 0


def test_closing_a_channel_while_redis_is_unreachable_raises_a_connection_error(
    connection: Connection,
) -> None:
    channel = _deliver_one_unacked(connection)
    cast(Any, channel)._disconnect_pools()  # kombu's own step, untyped in its stubs
    assert channel._connparams_seen is not None
    channel._connparams_seen = {**channel._connparams_seen, "port": 1}  # nothing listens there
    connection.transport.client = None

    # A connection error is what Celery's close path ignores and reconnects after; the message
    # stays in the unacked set for the restore sweep.
    with pytest.raises(tuple(connection.connection_errors)):
        channel.close()


class _GoneRedis:
    """A pipeline whose Redis went away before it could answer."""

    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: self

    def execute(self) -> None:
        raise redis.ConnectionError("Connection closed by server.")


def test_a_message_popped_as_redis_went_away_before_its_unacked_record_is_put_back(
    connection: Connection, client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    queue = publish_one(connection)
    channel = connection.default_channel
    qos = cast(Any, channel).qos
    real = qos.pipe_or_acquire

    @contextmanager
    def gone(*args: Any, **kwargs: Any) -> Iterator[_GoneRedis]:
        yield _GoneRedis()

    monkeypatch.setattr(qos, "pipe_or_acquire", gone)
    with pytest.raises(redis.ConnectionError):
        queue(channel).get(no_ack=False)  # popped; its unacked record never written
    assert client.llen(QUEUE) == 0 and client.hlen("unacked") == 0  # nowhere in Redis
    monkeypatch.setattr(qos, "pipe_or_acquire", real)

    qos.restore_visible()  # the restore sweep, once Redis answers again

    assert client.llen(QUEUE) == 1  # back on its queue, for the next delivery
    message = queue(channel).get(no_ack=True)
    assert message is not None and message.payload == {"n": 1}
