"""Circuit breaker rules: the policy, the states, and the decisions as pure functions.

A circuit guards one target, named by a string the caller builds (``model_target`` for a
(provider, model) pair, ``key_target`` for one API key of a provider). It is ``closed`` (calls go
through), ``open`` (calls are refused without reaching the provider) or ``half_open`` (a few
probe calls go through; the first probe to finish decides: a success closes the circuit, a
failure opens it again).

The state lives in Redis (``routing.circuit_store``), where a Lua script applies these same rules
atomically for every worker; the functions here are the reference for that script and are what
snapshots use to read a stored circuit as of now.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "CircuitPolicy",
    "CircuitState",
    "CircuitStatus",
    "Permit",
    "Transition",
    "effective_state",
    "error_rate",
    "key_target",
    "model_target",
    "trips",
]


class CircuitState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitPolicy(BaseModel):
    """When a circuit opens and how it recovers; one per provider (``ProviderConfig.circuit``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    failure_threshold: int = Field(default=5, ge=1, description="failures in the window that open")
    window_s: float = Field(default=30, gt=0, description="the sliding window counted, seconds")
    failure_rate: float = Field(default=0.5, gt=0, le=1, description="failure share that opens")
    min_calls: int = Field(default=10, ge=1, description="calls in the window before a rate counts")
    open_s: float = Field(default=30, gt=0, description="how long an open circuit refuses calls")
    half_open_probes: int = Field(default=1, ge=1, description="probe calls in flight at once")
    probe_timeout_s: float = Field(
        default=150,
        gt=0,
        description="a probe slot not given back by then (its worker died) is freed; "
        "keep it above the provider's total call timeout",
    )


@dataclass(frozen=True, slots=True)
class Transition:
    """A circuit changed state; returned so the caller can log it or emit an event."""

    target: str
    old: CircuitState
    new: CircuitState


@dataclass(frozen=True, slots=True)
class Permit:
    """The answer to "may I call this target now?".

    ``probe`` marks the call as the half-open circuit's probe: its outcome closes or re-opens the
    circuit, so it must be recorded (or its slot stays taken until ``probe_timeout_s``).
    ``retry_after_s`` is, when refused, how long until the circuit lets a probe through.
    """

    target: str
    allowed: bool
    probe: bool = False
    state: CircuitState = CircuitState.CLOSED
    lease: str | None = None
    retry_after_s: float = 0.0
    transition: Transition | None = None


@dataclass(frozen=True, slots=True)
class CircuitStatus:
    """One target as ``cascade health`` shows it."""

    target: str
    state: CircuitState
    failures: int  # counted failures in the window
    calls: int  # recorded calls in the window (successes and counted failures)
    error_rate: float  # failures / calls, 0.0 without calls
    latency_s: float | None  # EWMA of recorded call durations (weight 0.2 on the newest)
    opened_at: float | None  # epoch seconds, while open or half-open
    open_until: float | None  # when an open circuit lets a probe through


def model_target(provider: str, model: str) -> str:
    """The circuit of a (provider, catalog model name) pair."""
    return f"model:{provider}/{model}"


def key_target(provider: str, key_id: str) -> str:
    """The circuit of one of a provider's API keys (its id, never the secret)."""
    return f"key:{provider}/{key_id}"


def trips(policy: CircuitPolicy, failures: int, calls: int) -> bool:
    """Whether a closed circuit opens, given the counted failures and calls in its window.

    Evaluated after a counted failure only: a success never opens a circuit.
    """
    if failures >= policy.failure_threshold:
        return True
    return calls >= policy.min_calls and failures >= policy.failure_rate * calls


def error_rate(failures: int, calls: int) -> float:
    return failures / calls if calls else 0.0


def effective_state(stored: CircuitState, open_until: float | None, now: float) -> CircuitState:
    """The state as of ``now``: an open circuit whose time is up is half-open.

    The stored state only changes when a worker asks for a call, so a reader applies the clock.
    """
    if stored is CircuitState.OPEN and (open_until is None or now >= open_until):
        return CircuitState.HALF_OPEN
    return stored
