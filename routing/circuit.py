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

from pydantic import BaseModel, ConfigDict, Field, model_validator

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
    """When a circuit opens and how it recovers; one per provider (``ProviderConfig.circuit``).

    A circuit opens on a failure *rate*: at least ``failure_rate`` of the calls recorded in the
    last ``window_s``, once there are at least ``min_calls`` of them. A bare count of failures
    would open a busy target on noise: at 2 % errors, 1,000 calls in 30 s hold 20 failures.
    The defaults (half of at least 20 calls in 30 s) keep that noise out: with 2 % errors, the
    chance that 20 calls hold 10 failures is about 2e-12, and a larger window is less likely
    still, while a target that is really down (nearly every call failing) opens after 20 calls.
    The price is that a target called fewer than 20 times in 30 s never opens: its jobs still
    retry and reroute on each failure, so a circuit only saves calls where there are many.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    window_s: float = Field(default=30, gt=0, description="the sliding window counted, seconds")
    failure_rate: float = Field(default=0.5, gt=0, le=1, description="failure share that opens")
    min_calls: int = Field(default=20, ge=1, description="calls in the window before a rate counts")
    open_s: float = Field(default=30, gt=0, description="how long an open circuit refuses calls")
    half_open_probes: int = Field(default=1, ge=1, description="probe calls in flight at once")
    probe_timeout_s: float = Field(
        default=150,
        gt=0,
        description="a probe slot not given back by then (its worker died) is freed; "
        "keep it above the provider's total call timeout",
    )

    @model_validator(mode="before")
    @classmethod
    def _no_bare_count(cls, data: object) -> object:
        # Said plainly rather than "extra inputs are not permitted": catalogs written before
        # circuits opened on a rate carry this field, and their operator needs to know why.
        if isinstance(data, dict) and "failure_threshold" in data:
            raise ValueError(
                "failure_threshold is no longer supported: a circuit opens when failure_rate "
                "of at least min_calls calls in window_s fail; set those instead"
            )
        return data


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
    ``retry_after_s`` is, when refused, how long until the circuit lets a probe through, or
    with ``held``, how long the target's rate-limit hold (a 429's Retry-After) lasts.
    """

    target: str
    allowed: bool
    probe: bool = False
    held: bool = False
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

    Evaluated after a counted failure only: a success never opens a circuit. ``calls`` counts
    the successes and the counted failures, so a failure that says nothing of the target's
    health (a 429) neither adds to the rate nor dilutes it.
    """
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
