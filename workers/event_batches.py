"""Celery's worker consumer, with the task events for Flower published in batches.

Celery buffers a worker's task events (task-received, -started, -succeeded) and publishes the
buffer as one ``task.multi`` message from the consumer's loop. It asks the loop for that flush
on every event: from a pool thread, through the hub's waker, so that a worker with many
deliveries in flight woke its loop, serialised an envelope and sent a PUBLISH for one or two
events at a time. The flushes were a tenth of a loaded worker's CPU (py-spy on the bench's
worker, docs/performance.md).

This consumer lets the first event of a batch ask the loop to flush ``EVENT_BATCH_S`` later;
the events that follow within that time join the same message, asking nothing. Flower sees a
task's events up to that much later, in the same order and with the same fields. Celery still
flushes at once a buffer that reaches its limit (24 events).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from celery.worker.consumer import Consumer as CeleryConsumer

__all__ = ["CONSUMER", "EVENT_BATCH_S", "Consumer"]

EVENT_BATCH_S = 0.05

# The value of Celery's ``worker_consumer`` setting that selects this consumer.
CONSUMER = f"{__name__}:Consumer"


class Consumer(CeleryConsumer):
    # Set by Celery; celery-types does not declare them.
    hub: Any
    _flush_events: Callable[[], None]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._batch_lock = threading.Lock()
        self._batch_pending = False
        super().__init__(*args, **kwargs)

    def on_send_event_buffered(self) -> None:  # type: ignore[override]  # stubs: wrong return
        """An event joined the buffer (from any thread): have the loop flush it a batch's time
        from now, unless a flush is already due."""
        hub = self.hub
        if hub is None:
            return
        with self._batch_lock:
            if self._batch_pending:
                return
            self._batch_pending = True
        # call_soon is safe from any thread; the loop's timer is not, so the loop sets it.
        hub.call_soon(self._schedule_batch)

    def _schedule_batch(self) -> None:
        self.hub.call_later(EVENT_BATCH_S, self._publish_batch)

    def _publish_batch(self) -> None:
        # Cleared first: an event buffered while this flush runs asks for the next one.
        with self._batch_lock:
            self._batch_pending = False
        self._flush_events()
