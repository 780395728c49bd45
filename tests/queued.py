"""What waits for a queue in a test: jobs still in the scheduler plus messages already on the
Celery list (a test without workers has no dispatcher, so its jobs stay in the scheduler)."""

from __future__ import annotations

import json

import redis

from broker.keys import Keys

__all__ = ["listed_job_ids", "queued", "queued_job_ids", "text"]


def text(value: object) -> str:
    """A Redis reply item as text."""
    return value.decode() if isinstance(value, bytes) else str(value)


def queued(connection: redis.Redis, queue: str, keys: Keys | None = None) -> int:
    """Jobs waiting for ``queue``: in its scheduler sets and on its Celery list."""
    keys = keys or Keys()
    return int(connection.hlen(keys.sched_messages(queue))) + int(connection.llen(queue))


def queued_job_ids(connection: redis.Redis, queue: str, keys: Keys | None = None) -> list[str]:
    """The id of every job waiting for ``queue``, duplicates between the two places kept."""
    keys = keys or Keys()
    waiting = [text(item) for item in connection.hkeys(keys.sched_messages(queue))]
    listed = [json.loads(item)["headers"]["id"] for item in connection.lrange(queue, 0, -1)]
    return waiting + listed


def listed_job_ids(connection: redis.Redis, queue: str) -> list[str]:
    """The job id of each message on ``queue``'s Celery list, in the order a worker takes them
    (oldest first: messages are pushed on the left and popped from the right)."""
    raw = reversed(connection.lrange(queue, 0, -1))
    return [json.loads(item)["headers"]["id"] for item in raw]
