"""When a skip at the end of a route holds the job instead of failing it, and for how long."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from routing.spend import SpendGrant
from workers.admission import Skip
from workers.holding import HoldPolicy, hold_look_s, spend_skip

POLICY = HoldPolicy(hold_s=5.0, spend_hold_max_s=3600.0)
CIRCUIT = Skip("CircuitOpen", "the circuit of alpha/a1 is open")
SPEND = Skip("SpendCapReached", "spend cap: provider 'alpha' ...", resets_in_s=7200.0)


def look(
    skip: Skip,
    *,
    left: float | None = None,
    held_s_ago: float | None = None,
    holds: int = 0,
    policy: HoldPolicy = POLICY,
) -> float | str | None:
    return hold_look_s(
        skip,
        policy=policy,
        seconds_to_deadline=left,
        first_held_s_ago=held_s_ago,
        holds=holds,
    )


def test_a_full_rate_limit_or_a_half_open_circuit_holds_the_job_for_the_hold_time() -> None:
    assert look(CIRCUIT) == 5.0  # half-open, its probe in flight: its close releases sooner
    assert look(Skip("RateLimited", "no slot"), left=60.0) == 5.0


def test_an_open_circuit_holds_the_job_until_it_lets_a_probe_through_not_a_fixed_timer() -> None:
    assert look(Skip("CircuitOpen", "open", opens_in_s=1.25)) == 1.25
    assert look(Skip("CircuitOpen", "open", opens_in_s=40.0)) == 40.0
    assert look(Skip("CircuitOpen", "open", opens_in_s=0.0)) == 0.05  # never a busy loop


def test_a_circuit_that_reopens_only_after_the_deadline_ends_the_job_now() -> None:
    assert look(Skip("CircuitOpen", "open", opens_in_s=20.0), left=10.0) is None
    assert look(CIRCUIT, left=4.9) is None
    assert look(CIRCUIT, left=0.0) is None


def test_a_lasting_reason_is_never_held() -> None:
    for error_class in ("AuthError", "ContextTooLong"):
        assert look(Skip(error_class, "lasting")) is None
    assert look(Skip("SpendCapReached", "above the cap alone", lasting=True)) is None


def test_a_spend_cap_holds_a_job_without_a_deadline_too_looking_less_often_each_time() -> None:
    looks = [look(SPEND, holds=n, held_s_ago=0.0 if n else None) for n in range(6)]
    assert looks == [5.0, 10.0, 20.0, 40.0, 60.0, 60.0]  # at most spend_look_max_s apart


def test_a_spend_cap_hold_looks_again_just_after_the_caps_window_resets() -> None:
    resetting = Skip("SpendCapReached", "cap", resets_in_s=2.0)
    assert look(resetting, holds=3, held_s_ago=30.0) == 2.1


def test_a_spend_cap_hold_ends_after_the_longest_hold_with_a_reason_that_says_so() -> None:
    policy = HoldPolicy(hold_s=5.0, spend_hold_max_s=100.0)
    assert look(SPEND, holds=4, held_s_ago=90.0, policy=policy) == 10.0  # its last look
    ended = look(SPEND, holds=5, held_s_ago=100.0, policy=policy)
    assert isinstance(ended, str) and "CASCADE_SPEND_HOLD_MAX_S" in ended, ended


def test_a_spend_cap_hold_of_a_job_with_a_deadline_looks_last_just_before_it() -> None:
    assert look(SPEND, left=60.0) == 5.0
    assert look(SPEND, left=3.0) == 2.95
    ended = look(SPEND, left=0.05, holds=2, held_s_ago=3.0)
    assert isinstance(ended, str) and "deadline" in ended, ended


def test_a_refused_reservation_becomes_a_skip_with_the_caps_reset_and_whether_it_lasts() -> None:
    now = datetime(2026, 12, 1, 23, 0, tzinfo=UTC)
    resets = now + timedelta(hours=1)
    grant = SpendGrant(False, "h", "spend cap: over", near=True, resets_at=resets)
    assert spend_skip(grant, now) == Skip("SpendCapReached", "spend cap: over", None, 3600.0)
    lasting = SpendGrant(False, "h", "too much alone", resets_at=resets, lasting=True)
    assert spend_skip(lasting, now).lasting
