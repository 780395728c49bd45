"""A delivery that ends its job acknowledges its Celery message in the job's last round trip.

With late acks, kombu's Redis transport acknowledges a message after its task returned: a
``MULTI``/``ZREM``/``HDEL``/``EXEC`` transaction of its own, sent from the worker's consumer
thread, the one thread every message passes through. A success already ends with one round trip
of scripts (``workers/endings.succeed``); the same two removals ride there as one more script,
after the finish script, and the transport's own acknowledgement then only forgets the message
in memory. That is a round trip per job fewer, for the worker and for Redis
(docs/performance.md).

Why it is safe: Redis runs the scripts of one round trip in the order they were sent, so a
message is taken out of kombu's unacknowledged records only if the job's finish script ran
before it (a lost reply still means "ran"); a finished job's message has nothing left to do
(its redelivery would stand down). Only a batch that came back whole marks the message as
settled; otherwise kombu acknowledges it as ever, and its removals are idempotent. A message
handed back instead (``Reject`` on a Redis error) whose records are gone already was
acknowledged here, and is not put back: its job ended.
"""

from __future__ import annotations

import threading

import redis
from redis.commands.core import Script

from broker.keys import CELERY_UNACKED, CELERY_UNACKED_INDEX
from broker.script_batch import ScriptCall

__all__ = ["SETTLED", "MessageAcks", "SettledTags"]

# KEYS: kombu's unacked hash, its index. ARGV: the delivery tag. kombu's own ack, as a script.
_ACK = """
redis.call('ZREM', KEYS[2], ARGV[1])
return redis.call('HDEL', KEYS[1], ARGV[1])
"""


class SettledTags:
    """Delivery tags whose Redis records a delivery removed itself; the transport's QoS takes
    each out once, when Celery acknowledges (or hands back) the message."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tags: set[str] = set()
        # Set by cascade's transport (workers/broker_transport.QoS) when the process has one:
        # under another transport nothing would take a tag out, so none may be added.
        self.in_use = False

    def enable(self) -> None:
        self.in_use = True

    def add(self, tag: str) -> None:
        with self._lock:
            self._tags.add(tag)

    def take(self, tag: object) -> bool:
        """Whether ``tag`` was settled (and forget it)."""
        with self._lock:
            if isinstance(tag, str) and tag in self._tags:
                self._tags.discard(tag)
                return True
            return False

    def __len__(self) -> int:
        with self._lock:
            return len(self._tags)


# One per process: the tasks' threads add to it, the consumer thread's QoS takes from it.
SETTLED = SettledTags()


class MessageAcks:
    """The acknowledgement script, registered on the worker's client. Only used where the
    process consumes through cascade's transport (``in_use``): with kombu's own, as under
    ``celery -A workers.app worker`` without the transport setting, Celery's ack stays whole."""

    def __init__(self, client: redis.Redis, settled: SettledTags = SETTLED) -> None:
        self._script: Script = client.register_script(_ACK)
        self.settled = settled

    @property
    def in_use(self) -> bool:
        return self.settled.in_use

    def ack_call(self, delivery_tag: str) -> ScriptCall[int]:
        """The removal of the message's unacknowledged records, to run after the finish."""
        return ScriptCall(
            self._script, [CELERY_UNACKED, CELERY_UNACKED_INDEX], [delivery_tag], parse=int
        )
