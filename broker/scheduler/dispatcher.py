"""The dispatch loop: keeps each Celery queue topped up to a small depth with the next picks.

It runs as two daemon threads inside every ``cascade worker`` (no process of its own): one
waits on pub/sub for submits to the worker's queues, the other tops the queues up whenever it
is woken and on a slow safety sweep. Wakes come only for lists below their low water mark
(``broker/scheduler/wakes.py``): a submit publishes one only then (``broker/job_writes.py``),
and a delivery that began reports its list's length, read by its begin script, so a take from a
list still above the mark wakes nothing. A wake tops up the queues it named; the sweep tops up
every queue. It never polls in a loop. Several dispatchers may serve the same queue: each move
is one script, so the worst a race does is leave a queue a few messages over its depth.
"""

from __future__ import annotations

import math
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
from broker.scheduler.wakes import low_water, sweep_due

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
        # What the wakes since the last look named: these queues, or every queue.
        self._due: set[str] = set()
        self._due_all = False
        self._due_lock = threading.Lock()
        # Queue -> when (monotonic) its last look found nothing waiting and nothing held. A task
        # taken off such a queue leaves nothing to move (its next jobs come by a submit, which
        # wakes us, or straight onto the list by the submit's fast path), so it needs no
        # top-up; a look older than _IDLE_FRESH_S is not trusted (a job held since, say).
        self._idle: dict[str, float] = {}

    def wake(self, queue: str | None = None) -> None:
        """Top up ``queue`` (default: every queue) at the next look."""
        with self._due_lock:
            if queue is None:
                self._due_all = True
            else:
                self._due.add(queue)
        self._woken.set()

    def taken(self, queue: str, queued: int | None) -> None:
        """A delivery began from ``queue``, whose list holds ``queued`` messages now (None: not
        known). Top it up if that is below its low water mark, unless its last look, under
        0.25 s old, found nothing waiting and nothing held (the sweep looks again anyway)."""
        if queue not in self.queues:
            return
        if queued is not None and queued >= low_water(self.depth):
            return
        if self._idle.get(queue, 0.0) >= time.monotonic() - _IDLE_FRESH_S:
            return
        self.wake(queue)

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

    def top_up_all(self, queues: Sequence[str] | None = None) -> None:
        """Top up ``queues`` (default: all of this dispatcher's), each on its own."""
        for queue in self.queues if queues is None else queues:
            try:
                self.top_up(queue)
            except redis.RedisError as exc:
                log.warning("dispatch failed; the sweep tries again", queue=queue, error=str(exc))
            except Exception:  # a bug must not end the thread, and with it all dispatch
                log.exception("dispatch failed unexpectedly; the sweep tries again", queue=queue)

    def run(self) -> None:
        """Top up the queues each wake names, and every queue every ``sweep_s``, until
        stopped."""
        last_sweep = -math.inf
        while not self._stopped.is_set():
            self._woken.wait(self.sweep_s)
            self._woken.clear()
            if self._stopped.is_set():
                return
            with self._due_lock:
                due, everything = self._due, self._due_all
                self._due, self._due_all = set(), False
            now = time.monotonic()
            if everything or sweep_due(last_sweep, now, self.sweep_s):
                last_sweep = now
                self.top_up_all()
            else:
                self.top_up_all([queue for queue in self.queues if queue in due])

    def listen(self) -> None:
        """Wake the loop on every submit to one of this dispatcher's queues, until stopped."""
        mine = set(self.queues)
        while not self._stopped.is_set():
            pubsub = self.client.pubsub(ignore_subscribe_messages=True)
            try:
                pubsub.subscribe(self.keys.sched_wake_channel())
                while not self._stopped.is_set():
                    message = pubsub.get_message(timeout=self.sweep_s)
                    if message is not None and (queue := _text(message["data"])) in mine:
                        self.wake(queue)
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
