"""What a worker does after a failed call: retry the target, move on along the route, or fail.

``decide`` is a pure function of the error, where the job is on its route and the retry policy;
the task only carries out what it returns. DESIGN.md's table of error classes is this module.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from adapters.errors import (
    ContentBlocked,
    ContextTooLong,
    InvalidRequest,
    PrefillRefused,
    ProviderError,
    ProviderTimeout,
    RateLimited,
    TransientError,
)
from workers.backoff import full_jitter_delay

__all__ = ["Decision", "Fail", "Reroute", "Retry", "RetryPolicy", "decide", "next_hop"]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_retries: int  # further tries on the same target after the first call
    base_backoff_s: float
    max_backoff_s: float
    max_retry_after_s: float  # a longer Retry-After is not waited for: the job reroutes
    max_timeout_retries: int = 1  # further tries after a timeout, within max_retries


@dataclass(frozen=True, slots=True)
class Retry:
    countdown_s: float


@dataclass(frozen=True, slots=True)
class Reroute:
    hop: int


@dataclass(frozen=True, slots=True)
class Fail:
    reason: str
    # the class the job fails with, when it is not the last call's (a refused prefill)
    error_class: str | None = None


Decision = Retry | Reroute | Fail


def next_hop(
    hop: int,
    context_windows: Sequence[int],
    *,
    larger_than: int | None = None,
) -> int | None:
    """The next position on the route, or None when the route is used up.

    With ``larger_than``, only a target whose context window exceeds it qualifies: a prompt
    that did not fit one model is sent on only to a model it may fit.
    """
    for candidate in range(hop + 1, len(context_windows)):
        if larger_than is None or context_windows[candidate] > larger_than:
            return candidate
    return None


def decide(
    error: ProviderError,
    *,
    hop: int,
    calls_on_target: int,
    context_windows: Sequence[int],
    policy: RetryPolicy,
    seconds_to_deadline: float | None = None,
    reroute_on_content_block: bool = False,
    rng: random.Random | None = None,
) -> Decision:
    """What to do after the ``calls_on_target``-th call to route[hop] raised ``error``."""
    if isinstance(error, PrefillRefused):
        return Fail(
            f"{error.original_message} (then {error.message})", error_class=error.original_class
        )
    if isinstance(error, InvalidRequest):
        return Fail(f"the request was refused as invalid: {error.message}")
    if isinstance(error, ContentBlocked) and not reroute_on_content_block:
        return Fail(f"the provider's safety system refused the request: {error.message}")
    if isinstance(error, TransientError):
        wait = _retry_wait(error, calls_on_target, policy, rng)
        if wait is not None and (seconds_to_deadline is None or wait < seconds_to_deadline):
            return Retry(wait)
    larger_than = context_windows[hop] if isinstance(error, ContextTooLong) else None
    following = next_hop(hop, context_windows, larger_than=larger_than)
    if following is None:
        return Fail(f"every target on the route failed; the last said: {error.message}")
    return Reroute(following)


def _retry_wait(
    error: TransientError, calls_on_target: int, policy: RetryPolicy, rng: random.Random | None
) -> float | None:
    """How long to wait before the next call to the same target, or None to give it up."""
    if calls_on_target > policy.max_retries:
        return None
    if isinstance(error, ProviderTimeout) and calls_on_target > policy.max_timeout_retries:
        return None
    if isinstance(error, RateLimited) and error.retry_after is not None:
        if error.retry_after > policy.max_retry_after_s:
            return None
        return error.retry_after
    return full_jitter_delay(
        calls_on_target, base_s=policy.base_backoff_s, cap_s=policy.max_backoff_s, rng=rng
    )
