"""The circuit breaker's pure rules: when a circuit opens, and how a stored state reads now."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from routing.circuit import (
    CircuitPolicy,
    CircuitState,
    effective_state,
    error_rate,
    key_target,
    model_target,
    trips,
)


def test_a_bare_count_of_failures_does_not_open_a_busy_circuit() -> None:
    # Five failures in the window opened the circuit whatever the volume: 2 % of 1,000 calls.
    policy = CircuitPolicy()
    assert not trips(policy, failures=5, calls=250)
    assert not trips(policy, failures=20, calls=1000)


def test_two_percent_of_failures_never_open_a_default_circuit() -> None:
    # 2 % rounded up, and never less than one failure: the worst a window can hold.
    opened = [
        calls
        for calls in range(1, 10_001)
        if trips(CircuitPolicy(), failures=max(1, -(-calls * 2 // 100)), calls=calls)
    ]
    assert opened == []


def test_failure_rate_opens_only_over_the_minimum_of_calls() -> None:
    policy = CircuitPolicy(failure_rate=0.5, min_calls=10)
    assert not trips(policy, failures=9, calls=9)
    assert trips(policy, failures=5, calls=10)
    assert not trips(policy, failures=4, calls=10)


def test_a_default_circuit_opens_once_half_of_twenty_calls_fail() -> None:
    policy = CircuitPolicy()
    assert (policy.failure_rate, policy.min_calls, policy.window_s) == (0.5, 20, 30)
    assert not trips(policy, failures=19, calls=19)
    assert trips(policy, failures=20, calls=20)
    assert trips(policy, failures=10, calls=20)
    assert not trips(policy, failures=9, calls=20)


def test_a_catalog_still_setting_failure_threshold_is_told_what_replaced_it() -> None:
    with pytest.raises(ValidationError, match="failure_threshold is no longer supported"):
        CircuitPolicy.model_validate({"failure_threshold": 5})


def test_error_rate_without_calls_is_zero() -> None:
    assert error_rate(0, 0) == 0.0
    assert error_rate(1, 4) == 0.25


def test_an_open_circuit_reads_half_open_once_its_time_is_up() -> None:
    assert effective_state(CircuitState.OPEN, 100.0, 99.9) is CircuitState.OPEN
    assert effective_state(CircuitState.OPEN, 100.0, 100.0) is CircuitState.HALF_OPEN
    assert effective_state(CircuitState.CLOSED, None, 100.0) is CircuitState.CLOSED
    assert effective_state(CircuitState.HALF_OPEN, 100.0, 50.0) is CircuitState.HALF_OPEN


def test_model_and_key_targets_never_share_a_name() -> None:
    assert model_target("alpha", "a1") == "model:alpha/a1"
    assert key_target("alpha", "a1") == "key:alpha/a1"


def test_policy_refuses_a_failure_rate_above_one_and_unknown_fields() -> None:
    with pytest.raises(ValidationError):
        CircuitPolicy(failure_rate=1.5)
    with pytest.raises(ValidationError):
        CircuitPolicy.model_validate({"threshold": 3})
