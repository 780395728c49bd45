"""The producer builds its Celery messages itself: they must be the messages ``send_task`` would
push (Celery's protocol 2 in kombu's Redis envelope), so a real worker consumes them as its own.
tests/integration/test_pipeline.py proves that real workers run jobs enqueued this way."""

from __future__ import annotations

import json
from typing import Any

from broker.celery_app import create_celery
from broker.client import task_message
from broker.settings import Settings

# Fields that differ between any two messages, whoever builds them.
_PER_MESSAGE = {("properties", "delivery_tag"), ("properties", "reply_to"), ("headers", "origin")}


def _without_per_message_fields(message: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(json.dumps(message))
    for section, name in _PER_MESSAGE:
        out[section].pop(name, None)
    return out


def test_a_built_message_equals_the_one_celery_send_task_pushes() -> None:
    app = create_celery(Settings(redis_url="memory://"))
    app.conf.update(broker_url="memory://")
    with app.connection_for_write() as connection:
        app.send_task(
            "cascade.execute.alpha.openai",
            args=["job-1", 0],
            queue="fast.alpha",
            task_id="job-1",
            argsrepr="(job_id='job-1', hop=0)",
            connection=connection,
        )
        channel: Any = connection.default_channel
        celery_message = channel._get("fast.alpha")  # the memory transport keeps it
    ours = json.loads(
        task_message(
            "cascade.execute.alpha.openai",
            "job-1",
            0,
            queue="fast.alpha",
            argsrepr="(job_id='job-1', hop=0)",
            reply_to="r",
        )
    )

    assert _without_per_message_fields(ours) == _without_per_message_fields(celery_message)
