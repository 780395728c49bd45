"""The dispatch loop: keeps each Celery queue topped up to a small depth with the next picks.

It runs as two daemon threads inside every ``cascade worker`` (no process of its own): one
waits on pub/sub for submits to the worker's queues, the other tops the queues up whenever it
is woken (a submit, a task taken off a queue in this process) and on a slow safety sweep. It
never polls in a loop. Several dispatchers may serve the same queue: each move is one script,
so the worst a race does is leave a queue a few messages over its depth.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import redis
import structlog

from broker.keys import Keys
from broker.scheduler.deferred import DeferredJobs, DeferredRelease
from broker.scheduler.holds import HeldJobs
from broker.scheduler.picking import PickPolicy, plan_picks
from broker.scheduler.state import SchedulerState

__all__ = ["Dispatcher"]

log = structlog.get_logger("cascade.scheduler")

# A top-up that raced another dispatcher (or dropped cancelled jobs) reads and picks again,
# at most this often, before it waits for the next wake.
_ROUNDS = 8
# How long a look that found a queue idle spares the top-ups of the tasks taken after it.
_IDLE_FRESH_S = 0.25


class Dispatcher:
    def __init__(
        self,
        client: redis.Redis,
        keys: Keys,
        queues: Sequence[str],
        *,
        depth: int,
        policy: PickPolicy,
        sweep_s: float,
    ) -> None:
        self.state = SchedulerState(client, keys)
        self.held = HeldJobs(client, keys)
        self.deferred = DeferredRelease(DeferredJobs(client, keys), sweep_s)
        self.client = client
        self.keys = keys
        self.queues = list(queues)
        self.depth = depth
        self.policy = policy
        self.sweep_s = sweep_s
        self._woken = threading.Event()
        self._stopped = threading.Event()
        # Queue -> when (monotonic) its last look found nothing waiting and nothing held. A task
        # taken off such a queue leaves nothing to move (its next jobs come by a submit, which
        # wakes us, or straight onto the list by the submit's fast path), so it needs no
        # top-up; a look older than _IDLE_FRESH_S is not trusted (a job held since, say).
        self._idle: dict[str, float] = {}

    def wake(self) -> None:
        self._woken.set()

    def wake_after_take(self) -> None:
        """A task left one of this process's queues: top up unless every queue was idle at its
        last look (the sweep looks again in any case)."""
        fresh = time.monotonic() - _IDLE_FRESH_S
        if any(self._idle.get(queue, 0.0) < fresh for queue in self.queues):
            self._woken.set()

    def stop(self) -> None:
        self._stopped.set()
        self._woken.set()

    def top_up(self, queue: str) -> int:
        """Move due held jobs, then picked jobs, onto ``queue`` until it holds ``depth``
        messages or nothing waits; returns how many were moved. Deferred jobs whose price
        window has opened join the waiting sets first."""
        moved = 0
        self.deferred.due(queue, time.time())
        for round_ in range(_ROUNDS):
            snapshot = self.state.snapshot(queue)
            if snapshot.total_waiting() == 0 and snapshot.held == 0:
                self._idle[queue] = time.monotonic()
            else:
                self._idle.pop(queue, None)
            room = self.depth - snapshot.queued
            if round_ == 0 and snapshot.held:  # held jobs whose look is due had their turn
                released = self.held.release(queue, time.time(), room)
                moved, room = released, room - released
            if room <= 0 or snapshot.total_waiting() == 0:
                break
            picks = plan_picks(snapshot, room, self.policy)
            done = self.state.move(queue, picks)
            moved += done.moved
            if done.moved == len(picks):
                break
        return moved

    def top_up_all(self) -> None:
        for queue in self.queues:
            try:
                self.top_up(queue)
            except redis.RedisError as exc:
                log.warning("dispatch failed; the sweep tries again", queue=queue, error=str(exc))
            except Exception:  # a bug must not end the thread, and with it all dispatch
                log.exception("dispatch failed unexpectedly; the sweep tries again", queue=queue)

    def run(self) -> None:
        """Top up on every wake and every ``sweep_s``, until stopped."""
        while not self._stopped.is_set():
            self._woken.wait(self.sweep_s)
            self._woken.clear()
            if not self._stopped.is_set():
                self.top_up_all()

    def listen(self) -> None:
        """Wake the loop on every submit to one of this dispatcher's queues, until stopped."""
        mine = set(self.queues)
        while not self._stopped.is_set():
            pubsub = self.client.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
            try:
                pubsub.subscribe(self.keys.sched_wake_channel())
                while not self._stopped.is_set():
                    message = pubsub.get_message(timeout=self.sweep_s)
                    if message is not None and _text(message["data"]) in mine:
                        self.wake()
            except redis.RedisError:
                # Redis is away: the sweep keeps dispatching once it is back.
                self._stopped.wait(self.sweep_s)
            finally:
                pubsub.close()

    def start(self) -> list[threading.Thread]:
        threads = [
            threading.Thread(target=self.run, name="cascade-dispatch", daemon=True),
            threading.Thread(target=self.listen, name="cascade-dispatch-wake", daemon=True),
        ]
        for thread in threads:
            thread.start()
        self.wake()
        return threads


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
