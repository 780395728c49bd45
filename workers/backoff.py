"""How long to wait before trying the same target again: pure functions of the attempt number."""

from __future__ import annotations

import random

__all__ = ["full_jitter_delay"]


def full_jitter_delay(
    retry_number: int, *, base_s: float, cap_s: float, rng: random.Random | None = None
) -> float:
    """A delay drawn uniformly from [0, min(cap, base * 2**(n-1))] for the n-th retry.

    Full jitter spreads the retries of many jobs that failed together, so that they do not
    return to a recovering provider in one wave (AWS Architecture Blog, "Exponential Backoff
    And Jitter", 2015).
    """
    if retry_number < 1:
        raise ValueError("retry_number counts from 1")
    ceiling = min(cap_s, base_s * 2 ** (retry_number - 1))
    return (rng or random).uniform(0, ceiling)
