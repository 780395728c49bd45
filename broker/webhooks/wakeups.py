"""What wakes a dispatcher: jobs ending, webhooks registered, its own sends finishing.

A listener thread reads two pub/sub channels (every job's status changes, published by the
finish script; and each newly watched subject) and turns what it reads into subjects that may
have ended. Reading a subscription costs Redis nothing while nobody publishes, so an idle
dispatcher sends no commands at all between its slow safety sweeps.
"""

from __future__ import annotations

import json
import queue
import threading
from dataclasses import dataclass, field

import redis
import structlog

from broker.keys import Keys

__all__ = ["DUE_NOTICE", "Wakeup", "WakeupListener", "subjects_of_event"]

log = structlog.get_logger("cascade.webhooks")

_FINAL = frozenset({"succeeded", "failed"})
# Published on the webhooks channel when a delivery was made due from outside (a replay).
DUE_NOTICE = "*due"


@dataclass(frozen=True, slots=True)
class Wakeup:
    """Subjects to look at now; ``sweep``: events may have been missed, look at everything."""

    subjects: tuple[str, ...] = ()
    sweep: bool = False
    # Deliveries may be due: a send of this dispatcher finished (a sender is free again), or
    # a replay made one due.
    due: bool = False


def subjects_of_event(data: bytes | str) -> tuple[str, ...]:
    """The subjects a job's status event may have ended: the job, and its batch."""
    try:
        event = json.loads(data)
    except ValueError:
        return ()
    if not isinstance(event, dict) or event.get("status") not in _FINAL:
        return ()
    found = [f"job:{event['job_id']}"] if isinstance(event.get("job_id"), str) else []
    if isinstance(event.get("batch_id"), str):
        found.append(f"batch:{event['batch_id']}")
    return tuple(found)


@dataclass
class WakeupListener:
    """Subscribes, and puts a Wakeup on ``inbox`` for every message that may matter."""

    client: redis.Redis
    keys: Keys
    inbox: queue.Queue[Wakeup] = field(default_factory=queue.Queue)

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self._listen(stop)
            except redis.RedisError:
                log.warning("webhook dispatcher: pub/sub lost; sweeping when it is back")
                stop.wait(1.0)

    def _listen(self, stop: threading.Event) -> None:
        pubsub = self.client.pubsub(ignore_subscribe_messages=True)
        try:
            pubsub.subscribe(self.keys.events_channel(), self.keys.webhooks_channel())
            # Whatever ended while nobody listened is found by a sweep.
            self.inbox.put(Wakeup(sweep=True))
            while not stop.is_set():
                message = pubsub.get_message(timeout=1.0)
                if message is not None:
                    self._handle(message["channel"], message["data"])
        finally:
            pubsub.close()

    def _handle(self, channel: bytes, data: bytes) -> None:
        if channel.decode() == self.keys.webhooks_channel():
            text = data.decode()
            self.inbox.put(Wakeup(due=True) if text == DUE_NOTICE else Wakeup(subjects=(text,)))
            return
        subjects = subjects_of_event(data)
        if subjects:
            self.inbox.put(Wakeup(subjects=subjects))
