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


def test_failure_threshold_in_the_window_opens_the_circuit() -> None:
    policy = CircuitPolicy(failure_threshold=5, min_calls=100)
    assert not trips(policy, failures=4, calls=4)
    assert trips(policy, failures=5, calls=5)


def test_failure_rate_opens_only_over_the_minimum_of_calls() -> None:
    policy = CircuitPolicy(failure_threshold=100, failure_rate=0.5, min_calls=10)
    assert not trips(policy, failures=9, calls=9)
    assert trips(policy, failures=5, calls=10)
    assert not trips(policy, failures=4, calls=10)


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
