"""What wakes an offload poller before its next pass: a provider's webhook saying a batch ended
(``POST /v1/provider-webhooks/{provider}`` makes the record due and publishes its id).

A subscription costs Redis nothing while nobody publishes, so an idle poller sends only its
passes' few commands. A lost subscription costs nothing either: the record is due in the
sorted set, and the next pass polls it.
"""

from __future__ import annotations

import threading

import redis
import structlog

from broker.keys import Keys

__all__ = ["listen_for_wakeups"]

log = structlog.get_logger("cascade.offload")


def listen_for_wakeups(
    client: redis.Redis, keys: Keys, woken: threading.Event, stop: threading.Event
) -> threading.Thread:
    """A daemon thread that sets ``woken`` for every record id published on the offload wake
    channel, until ``stop``; it subscribes again after a Redis outage."""

    def run() -> None:
        while not stop.is_set():
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            try:
                pubsub.subscribe(keys.offload_wake_channel())
                while not stop.is_set():
                    if pubsub.get_message(timeout=1.0) is not None:
                        woken.set()
            except redis.RedisError:
                log.warning("offload poller: pub/sub lost; polling by time until it is back")
                stop.wait(1.0)
            finally:
                pubsub.close()

    thread = threading.Thread(target=run, name="offload-wake", daemon=True)
    thread.start()
    return thread
