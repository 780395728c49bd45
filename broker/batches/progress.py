"""Following a running batch: waiting for it to end, and its jobs' endings as events.

Both wake on the batch's events channel (the workers' finish script and the cancel script
publish there) and re-read only the batch hash's counters, so following a batch costs one round
trip per wake-up, never one per job.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from redis.client import PubSub

from broker.batches.records import BatchRecord
from broker.batches.store import BatchStore

__all__ = ["batch_events", "wait_for_batch"]


@contextmanager
def _subscribed(store: BatchStore, batch_id: str) -> Iterator[PubSub]:
    pubsub = store.redis.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(store.keys.batch_channel(batch_id))
    try:
        yield pubsub
    finally:
        pubsub.close()


def wait_for_batch(
    store: BatchStore,
    batch_id: str,
    timeout: float,
    on_progress: Callable[[BatchRecord], None] | None = None,
) -> BatchRecord:
    """Until the batch ends or ``timeout`` passes; returns the record either way."""
    with _subscribed(store, batch_id) as pubsub:
        deadline = time.monotonic() + timeout
        while True:
            record = store.get(batch_id, exact=False)
            if on_progress is not None:
                on_progress(record)
            left = deadline - time.monotonic()
            if record.done or left <= 0:
                return store.get(batch_id) if not record.done else record
            pubsub.get_message(timeout=min(left, 0.5))
            # Drain what else arrived: one re-read covers every event so far.
            while pubsub.get_message(timeout=0) is not None:
                pass


def batch_events(store: BatchStore, batch_id: str, timeout: float) -> Iterator[dict[str, Any]]:
    """Each job of the batch as it ends (those already ended first), then the batch record.

    Subscribes before reading what has ended, so no ending falls between the two; each job
    is reported once.
    """
    total = store.get(batch_id, exact=False).counts.total
    with _subscribed(store, batch_id) as pubsub:
        deadline = time.monotonic() + timeout
        seen: set[str] = set()
        for job_id, status in store.finished_jobs(batch_id).items():
            seen.add(job_id)
            yield {"type": "job", "job_id": job_id, "status": status}
        while len(seen) < total and (left := deadline - time.monotonic()) > 0:
            message = pubsub.get_message(timeout=min(left, 1.0))
            if message is None or message.get("type") != "message":
                continue
            event = json.loads(message["data"])
            if event.get("job_id") not in seen:
                seen.add(event["job_id"])
                yield {"type": "job", "job_id": event["job_id"], "status": event["status"]}
        yield {"type": "batch", "batch": store.get(batch_id).to_openai()}
