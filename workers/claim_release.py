"""Giving a delivery's claim back when Redis was away at the moment it ended.

A delivery whose Redis call fails hands its message back (``Reject`` with requeue, in
``workers/tasks.py``). If its claim stayed on the job, the message handed back would find the job
claimed and wait out the claim's whole TTL (``CASCADE_CLAIM_TTL_S``, five minutes by default)
before running: a Redis restart of a few seconds would cost each job in flight minutes. So the
claim is released with patience: the release is tried again, with growing pauses, for up to
``RELEASE_PATIENCE_S``, and the message is handed back only after that (kombu's requeue needs
Redis too, so nothing is lost by waiting for it). If Redis stays away longer, the claim runs out
on its own and the message comes back after the visibility timeout, as before.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import redis

from broker.store import JobStore

__all__ = ["RELEASE_PATIENCE_S", "release_claim", "release_pauses"]

RELEASE_PATIENCE_S = 30.0
_FIRST_PAUSE_S, _LONGEST_PAUSE_S = 0.1, 2.0


def release_pauses(patience_s: float) -> list[float]:
    """The pauses between tries: doubling from a tenth of a second up to two seconds, in all
    no longer than ``patience_s``."""
    pauses: list[float] = []
    pause, total = _FIRST_PAUSE_S, 0.0
    while total + pause <= patience_s:
        pauses.append(pause)
        total += pause
        pause = min(pause * 2, _LONGEST_PAUSE_S)
    return pauses


def release_claim(
    store: JobStore,
    job_id: str,
    token: str,
    *,
    patience_s: float = RELEASE_PATIENCE_S,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Release the claim ``token`` holds on the job, trying again while Redis cannot be
    reached; raises Redis's last error if it stayed away for ``patience_s``."""
    for pause in [*release_pauses(patience_s), None]:
        try:
            store.release(job_id, token)
            return
        except (redis.ConnectionError, redis.TimeoutError):
            if pause is None:
                raise
            sleep(pause)
