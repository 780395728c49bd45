"""When a skip at the end of a route holds the job instead of failing it."""

from __future__ import annotations

from workers.holding import hold_countdown


def test_an_open_circuit_or_a_full_rate_limit_holds_the_job_for_the_hold_time() -> None:
    assert hold_countdown("CircuitOpen", hold_s=5.0, seconds_to_deadline=None) == 5.0
    assert hold_countdown("RateLimited", hold_s=5.0, seconds_to_deadline=60.0) == 5.0


def test_a_lasting_reason_is_never_held() -> None:
    for error_class in ("AuthError", "ContextTooLong"):
        assert hold_countdown(error_class, hold_s=5.0, seconds_to_deadline=None) is None


def test_a_deadline_before_the_next_look_ends_the_job_instead() -> None:
    assert hold_countdown("CircuitOpen", hold_s=5.0, seconds_to_deadline=4.9) is None
    assert hold_countdown("CircuitOpen", hold_s=5.0, seconds_to_deadline=0.0) is None


def test_a_spend_cap_holds_a_job_with_a_deadline_and_fails_one_without() -> None:
    assert hold_countdown("SpendCapReached", hold_s=5.0, seconds_to_deadline=60.0) == 5.0
    assert hold_countdown("SpendCapReached", hold_s=5.0, seconds_to_deadline=None) is None
    assert hold_countdown("SpendCapReached", hold_s=5.0, seconds_to_deadline=4.0) is None
