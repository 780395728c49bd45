"""The worker's task events: one dispatcher per process, the same events as ``send_event``."""

from __future__ import annotations

import base64
import json
import time

import pytest
import redis

from broker.celery_app import create_celery
from broker.settings import Settings
from workers.startup import worker_argv
from workers.task_events import TaskEvents

pytestmark = pytest.mark.integration


def _clients(connection: redis.Redis) -> int:
    return len(connection.client_list())


def test_task_events_publish_every_event_over_one_connection(redis_url: str) -> None:
    # A private database: the events' fanout is per database, so nobody else's events arrive.
    url = redis_url.rsplit("/", 1)[0] + "/11"
    app = create_celery(Settings(redis_url=url))
    watcher = redis.Redis.from_url(url)
    listener = watcher.pubsub()
    listener.psubscribe("*celeryev*")
    listener.get_message(timeout=1.0)  # the subscription's confirmation
    events = TaskEvents(app)
    try:
        events.sender("job-0", "worker@test")("task-rerouted", hop=0)
        before = _clients(watcher)
        for n in range(1, 50):
            events.sender(f"job-{n}", "worker@test")("task-rerouted", hop=n)
        assert _clients(watcher) == before  # Task.send_event opened a connection per event

        seen: list[dict[str, object]] = []
        deadline = time.monotonic() + 5.0
        while len(seen) < 50 and time.monotonic() < deadline:
            message = listener.get_message(timeout=0.5)
            if message and message["type"] == "pmessage":
                envelope = json.loads(message["data"])
                body = envelope["body"]
                if envelope["properties"].get("body_encoding") == "base64":
                    body = base64.b64decode(body)
                seen.append(json.loads(body))
        assert [event["uuid"] for event in seen] == [f"job-{n}" for n in range(50)]
        assert {event["type"] for event in seen} == {"task-rerouted"}
        assert {event["hostname"] for event in seen} == {"worker@test"}
        assert [event["hop"] for event in seen] == list(range(50))
    finally:
        events.close()
        listener.close()
        watcher.close()


def test_with_task_events_off_nothing_is_published_and_the_worker_is_started_without_them(
    redis_url: str,
) -> None:
    url = redis_url.rsplit("/", 1)[0] + "/11"
    settings = Settings(redis_url=url, task_events=False)
    app = create_celery(settings)
    assert app.conf.worker_send_task_events is False
    assert "--task-events" not in worker_argv(
        "emu", ["q"], pool="threads", concurrency=1, loglevel="INFO", task_events=False
    )
    assert "--task-events" in worker_argv(
        "emu", ["q"], pool="threads", concurrency=1, loglevel="INFO"
    )
    watcher = redis.Redis.from_url(url)
    listener = watcher.pubsub()
    listener.psubscribe("*celeryev*")
    listener.get_message(timeout=1.0)
    events = TaskEvents(app, enabled=False)
    try:
        events.sender("job-0", "worker@test")("task-rerouted", hop=0)
        assert listener.get_message(timeout=0.5) is None
    finally:
        events.close()
        listener.close()
        watcher.close()
