"""A delivery's own acknowledgement of its Celery message (``workers/message_acks.py``) against
kombu's Redis transport on a real Redis: the script removes the records kombu reads, and the
transport's QoS then acknowledges, or hands back, the message without a transaction of its own."""

from __future__ import annotations

from typing import Any, cast

import pytest
import redis
from kombu import Connection
from kombu.message import Message

from broker.celery_app import create_celery
from broker.keys import CELERY_UNACKED, CELERY_UNACKED_INDEX
from broker.script_batch import run_script
from broker.settings import Settings
from tests.workers.conftest import TRANSPORT_QUEUE, deliver_unacked
from workers.message_acks import SETTLED, MessageAcks, SettledTags

QUEUE = TRANSPORT_QUEUE


def _delivered(connection: Connection) -> tuple[Message, str]:
    """A message delivered and not yet acknowledged, and its delivery tag."""
    message = deliver_unacked(connection)
    return message, str(message.delivery_tag)


def _no_transaction(*_args: Any, **_kwargs: Any) -> Any:
    raise AssertionError("kombu wrote to Redis for a message its delivery acknowledged")


def test_the_ack_script_removes_the_records_kombu_keeps_for_an_unacknowledged_message(
    connection: Connection, client: redis.Redis
) -> None:
    message, tag = _delivered(connection)
    assert client.hexists(CELERY_UNACKED, tag)

    removed = run_script(client, MessageAcks(client).ack_call(tag))

    assert removed == 1
    assert client.hlen(CELERY_UNACKED) == 0 and client.zcard(CELERY_UNACKED_INDEX) == 0


def test_a_settled_message_is_acknowledged_in_memory_without_a_redis_transaction(
    connection: Connection, client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    message, tag = _delivered(connection)
    acks = MessageAcks(client)
    run_script(client, acks.ack_call(tag))
    acks.settled.add(tag)
    qos: Any = cast(Any, connection.default_channel).qos
    monkeypatch.setattr(qos, "_remove_from_indices", _no_transaction)

    message.ack()

    qos._flush()  # kombu forgets acknowledged messages lazily
    assert tag not in qos._delivered
    assert not SETTLED.take(tag)  # taken once, not left behind


def test_an_unsettled_message_is_acknowledged_by_kombu_as_before(
    connection: Connection, client: redis.Redis
) -> None:
    message, tag = _delivered(connection)

    message.ack()

    assert client.hlen(CELERY_UNACKED) == 0 and client.zcard(CELERY_UNACKED_INDEX) == 0


def test_a_settled_message_handed_back_is_not_put_back_on_its_queue(
    connection: Connection, client: redis.Redis
) -> None:
    message, tag = _delivered(connection)
    acks = MessageAcks(client)
    run_script(client, acks.ack_call(tag))
    acks.settled.add(tag)

    message.reject(requeue=True)  # what a Redis error after the finish round trip leads to

    assert client.llen(QUEUE) == 0  # its job ended: no second run
    assert not SETTLED.take(tag)


def test_an_unsettled_message_handed_back_goes_back_on_its_queue(
    connection: Connection, client: redis.Redis
) -> None:
    message, tag = _delivered(connection)

    message.reject(requeue=True)

    assert client.llen(QUEUE) == 1


def test_celerys_transport_options_name_the_records_the_ack_script_writes() -> None:
    options = create_celery(Settings()).conf.broker_transport_options
    assert options["unacked_key"] == CELERY_UNACKED
    assert options["unacked_index_key"] == CELERY_UNACKED_INDEX


def test_a_settled_tag_is_taken_once() -> None:
    tags = SettledTags()
    tags.add("t-1")
    assert len(tags) == 1
    assert tags.take("t-1") is True
    assert tags.take("t-1") is False
    assert len(tags) == 0


def test_tags_are_only_settled_in_a_process_that_consumes_through_cascades_transport(
    connection: Connection,
) -> None:
    assert SettledTags().in_use is False  # kombu's own transport: Celery's ack stays whole
    _delivered(connection)  # a channel of cascade's transport, and its QoS
    assert SETTLED.in_use is True
