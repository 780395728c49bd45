"""Task events sent through one event dispatcher per worker process.

``Task.send_event`` takes a producer from Celery's pool for every event, and the pool hands each
one out with a fresh kombu channel: on the Redis transport that is a new connection pool, a TCP
connect and a PING before the single PUBLISH (a third of a worker's CPU per job in the issue 18
profile). One ``EventDispatcher`` kept for the process publishes the same events (same exchange,
same fields, ``uuid`` = the job id, the worker's hostname) over one connection; its own mutex
serialises the publishes of the pool's threads, and kombu's ``ensure`` reconnects it when Redis
comes back. With ``Settings.task_events`` off nothing is sent.
"""

from __future__ import annotations

import threading
from typing import Any

from celery import Celery
from celery.events import EventDispatcher

from broker.events import Send

__all__ = ["TaskEvents"]


class TaskEvents:
    """The worker process's event dispatcher, opened on first use."""

    def __init__(self, app: Celery, *, enabled: bool = True) -> None:
        self._app = app
        self.enabled = enabled
        self._lock = threading.Lock()
        self._dispatchers: dict[str, EventDispatcher] = {}

    def _dispatcher(self, hostname: str) -> EventDispatcher:
        with self._lock:
            dispatcher = self._dispatchers.get(hostname)
            if dispatcher is None:
                dispatcher = self._app.events.Dispatcher(
                    self._app.connection_for_write(), hostname=hostname, enabled=True
                )
                self._dispatchers[hostname] = dispatcher
            return dispatcher

    def sender(self, job_id: str, hostname: str) -> Send:
        """A ``send(event_type, **fields)`` for the task of ``job_id``, as ``send_event``."""
        policy = self._app.conf.task_publish_retry_policy
        if not self.enabled:
            return _no_event

        def send(event_type: str, **fields: Any) -> Any:
            dispatcher = self._dispatcher(hostname)
            return dispatcher.send(
                event_type, uuid=job_id, retry=True, retry_policy=policy, **fields
            )

        return send

    def close(self) -> None:
        with self._lock:
            for dispatcher in self._dispatchers.values():
                dispatcher.close()
                if dispatcher.connection is not None:
                    dispatcher.connection.release()
            self._dispatchers.clear()


def _no_event(event_type: str, **fields: Any) -> None:
    """Task events are off (``Settings.task_events``): nothing is published."""
