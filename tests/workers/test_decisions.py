"""The retry/reroute/fail decision, as DESIGN.md's table of error classes states it."""

from __future__ import annotations

import random

import pytest

from adapters.errors import (
    AuthError,
    ContentBlocked,
    ContextTooLong,
    InvalidRequest,
    ModelNotFound,
    Overloaded,
    PrefillRefused,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeout,
    QuotaExhausted,
    RateLimited,
    ServerError,
    UnsupportedParameter,
)
from workers.backoff import full_jitter_delay
from workers.decisions import Fail, Reroute, Retry, RetryPolicy, decide, next_hop

POLICY = RetryPolicy(max_retries=2, base_backoff_s=0.5, max_backoff_s=8, max_retry_after_s=60)
WINDOWS = [16_000, 32_000, 200_000]


def _decide(error: ProviderError, **overrides: object) -> object:
    arguments: dict[str, object] = {
        "hop": 0,
        "calls_on_target": 1,
        "context_windows": WINDOWS,
        "policy": POLICY,
        "rng": random.Random(7),
    }
    arguments.update(overrides)
    return decide(error, **arguments)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "error",
    [
        Overloaded("503"),
        ServerError("500"),
        ProviderConnectionError("reset"),
        RateLimited("429"),
    ],
)
def test_a_transient_error_is_retried_on_the_same_target_while_retries_remain(
    error: ProviderError,
) -> None:
    decision = _decide(error, calls_on_target=2)
    assert isinstance(decision, Retry)
    assert 0 <= decision.countdown_s <= 1.0  # second retry: at most base * 2


def test_a_transient_error_reroutes_once_the_retries_are_spent() -> None:
    assert _decide(Overloaded("503"), calls_on_target=3) == Reroute(1)


def test_retry_after_is_honoured_exactly() -> None:
    assert _decide(RateLimited("429", retry_after=12.5)) == Retry(12.5)


def test_a_retry_after_longer_than_the_policy_allows_reroutes_at_once() -> None:
    assert _decide(RateLimited("429", retry_after=600)) == Reroute(1)


def test_a_retry_that_would_pass_the_deadline_reroutes_instead() -> None:
    assert _decide(RateLimited("429", retry_after=5), seconds_to_deadline=2) == Reroute(1)


@pytest.mark.parametrize(
    "error",
    [
        AuthError("401"),
        QuotaExhausted("quota"),
        ModelNotFound("404"),
        UnsupportedParameter("Unrecognized request argument supplied: seed"),
    ],
)
def test_a_target_error_reroutes_without_retry(error: ProviderError) -> None:
    assert _decide(error) == Reroute(1)


def test_an_invalid_request_fails_the_job_at_once() -> None:
    decision = _decide(InvalidRequest("bad seed"))
    assert isinstance(decision, Fail) and "bad seed" in decision.reason


def test_context_too_long_skips_targets_whose_window_is_not_larger() -> None:
    assert _decide(
        ContextTooLong("too long"), hop=0, context_windows=[32_000, 16_000, 32_000, 100_000]
    ) == Reroute(3)


def test_context_too_long_fails_when_no_larger_window_follows() -> None:
    assert isinstance(_decide(ContextTooLong("too long"), hop=2), Fail)


def test_a_content_block_fails_unless_the_job_allows_a_reroute() -> None:
    assert isinstance(_decide(ContentBlocked("blocked")), Fail)
    assert _decide(ContentBlocked("blocked"), reroute_on_content_block=True) == Reroute(1)


def test_the_last_target_failing_fails_the_job_with_the_last_error() -> None:
    decision = _decide(Overloaded("still down"), hop=2, calls_on_target=3)
    assert isinstance(decision, Fail) and "still down" in decision.reason


def test_next_hop_continues_the_route_and_never_restarts_it() -> None:
    assert next_hop(1, WINDOWS) == 2
    assert next_hop(2, WINDOWS) is None


def test_full_jitter_stays_within_the_capped_exponential_ceiling() -> None:
    rng = random.Random(1)
    delays = [
        full_jitter_delay(n, base_s=0.5, cap_s=4, rng=rng) for n in range(1, 10) for _ in range(50)
    ]
    assert all(0 <= delay <= 4 for delay in delays)
    assert max(full_jitter_delay(1, base_s=0.5, cap_s=4, rng=rng) for _ in range(200)) <= 0.5


def test_full_jitter_counts_retries_from_one() -> None:
    with pytest.raises(ValueError):
        full_jitter_delay(0, base_s=1, cap_s=2)


def test_a_timed_out_call_is_retried_on_the_same_target_at_most_once_by_default() -> None:
    assert isinstance(_decide(ProviderTimeout("no headers"), calls_on_target=1), Retry)
    assert _decide(ProviderTimeout("no headers"), calls_on_target=2) == Reroute(1)


def test_other_transient_errors_keep_the_whole_retry_budget() -> None:
    assert isinstance(_decide(ServerError("500"), calls_on_target=2), Retry)
    assert _decide(ServerError("500"), calls_on_target=3) == Reroute(1)


def test_a_timeout_retry_budget_of_zero_fails_over_at_once() -> None:
    policy = RetryPolicy(
        max_retries=2,
        base_backoff_s=0.5,
        max_backoff_s=8,
        max_retry_after_s=60,
        max_timeout_retries=0,
    )
    assert _decide(ProviderTimeout("no headers"), policy=policy) == Reroute(1)


def test_a_refused_prefill_fails_the_job_with_the_error_that_broke_its_stream() -> None:
    refusal = InvalidRequest("This model does not support assistant message prefill.")
    error = PrefillRefused(refusal, "ProviderConnectionError", "stream cut: the body ended")
    decision = decide(
        error, hop=0, calls_on_target=1, context_windows=[16_000, 32_000], policy=POLICY
    )

    assert isinstance(decision, Fail)
    assert decision.error_class == "ProviderConnectionError"
    assert decision.reason.startswith("stream cut: the body ended")
    assert "does not support assistant message prefill" in decision.reason
