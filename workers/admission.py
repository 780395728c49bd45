"""May this call go now? Circuit breakers, API-key rotation and rate limits, shared through Redis.

Before a call the worker asks ``Gatekeeper.admit``: the answer is a ticket to call with a key,
a wait (the provider's rate limit is full, or every usable key is held by a 429's Retry-After),
or a skip (an open circuit, no usable key) that sends the job on along its route without a
call. After the call, ``settle`` records the outcome with both circuits (the model's and the
key's) and takes a refused key out of rotation.

A 429 slows its key down and never takes it out: it holds the key for its Retry-After (every
worker waits that long before using the key again) and does not count toward the key's circuit,
which opens only for what makes a key unusable (refused, out of quota). A key that is only
held is reported as ``RateLimited``, never as an unusable key.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import redis
import structlog

from adapters.errors import (
    AuthError,
    Overloaded,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeout,
    QuotaExhausted,
    RateLimited,
    ServerError,
)
from broker.jobs import TargetRef
from broker.keys import Keys
from broker.script_batch import ScriptCall, run_scripts
from routing.catalog import Catalog, ProviderConfig
from routing.circuit import CircuitState, Permit, Transition, key_target, model_target
from routing.circuit_store import CircuitBreakers
from routing.key_pool import PLACEHOLDER_KEY_ID, KeyPool, key_ids
from routing.rate_limit import RateLimiter

__all__ = ["Admitted", "Gatekeeper", "Skip", "Wait", "counts_toward_circuit"]

log = structlog.get_logger("cascade.worker")

# Failures that say a model is unhealthy; a 429 or a refused request says nothing of that.
_MODEL_FAILURES = (Overloaded, ServerError, ProviderTimeout, ProviderConnectionError)
# Failures that say a key is unusable for now, whatever the model: refused, out of quota. A 429
# is not one of them: it holds the key for its Retry-After instead (``_hold_s``).
_KEY_FAILURES = (AuthError, QuotaExhausted)


def counts_toward_circuit(error: ProviderError | None) -> bool:
    """Whether a failure counts toward the model's circuit."""
    return isinstance(error, _MODEL_FAILURES)


@dataclass(frozen=True, slots=True)
class Admitted:
    key_id: str
    api_key: str
    model_permit: Permit
    key_permit: Permit
    alongside: tuple[Any, ...] = ()  # the replies of the calls ``admit`` ran alongside


@dataclass(frozen=True, slots=True)
class Wait:
    """No call now: the rate limit's next slot, or the end of a 429's hold on every key, is
    ``seconds`` away. Reported as ``RateLimited`` (with ``reason``) when the job cannot wait
    that long."""

    seconds: float
    reason: str = "no rate-limit slot soon enough"


@dataclass(frozen=True, slots=True)
class Skip:
    """No call on this target now, and why. What the reason says of its end, for a hold
    (``workers/holding.py``): ``opens_in_s``, when an open circuit lets a probe through;
    ``resets_in_s``, when a spend cap's window ends; ``lasting``, that no wait can help."""

    error_class: str
    reason: str
    opens_in_s: float | None = None
    resets_in_s: float | None = None
    lasting: bool = False


@dataclass
class Gatekeeper:
    """One per worker process; thread-safe (redis-py pools its connections)."""

    client: redis.Redis
    keys: Keys
    catalog: Catalog
    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)
    _breakers: dict[str, CircuitBreakers] = field(default_factory=dict)
    _pools: dict[str, KeyPool] = field(default_factory=dict)
    _secrets: dict[str, dict[str, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.limiter = RateLimiter(self.client, self.keys)
        for name, provider in self.catalog.providers.items():
            self._breakers[name] = CircuitBreakers(self.client, self.keys, provider.circuit)
            self._secrets[name] = self._read_secrets(provider)
            self._pools[name] = KeyPool(self.client, self.keys, name, list(self._secrets[name]))

    def breakers(self, provider: str) -> CircuitBreakers:
        return self._breakers[provider]

    def admit(
        self, target: TargetRef, tokens: int, alongside: Sequence[ScriptCall[Any]] = ()
    ) -> Admitted | Wait | Skip:
        """``alongside``: calls to run in the same round trip, whatever the answer (the
        runner's spend reservation); their replies come back in ``Admitted.alongside``."""
        provider = self.catalog.provider(target.provider)
        breakers, pool = self._breakers[target.provider], self._pools[target.provider]
        # One round trip asks the model's circuit, takes the next key and, when the provider
        # has only one key, asks that key's circuit too; a permit left unused is given back.
        calls: list[ScriptCall[Any]] = [
            breakers.before_call_call(model_target(target.provider, target.model)),
            pool.next_key_call(),
        ]
        if len(pool.key_ids) == 1:
            calls.append(breakers.before_call_call(key_target(target.provider, pool.key_ids[0])))
        replies = run_scripts(self.client, [*calls, *alongside])
        model_permit, first_key, *asked = replies[: len(calls)]
        extra = tuple(replies[len(calls) :])
        if not model_permit.allowed:
            self._give_back(breakers, *asked)
            opens = model_permit.retry_after_s if model_permit.state is CircuitState.OPEN else None
            return Skip(
                "CircuitOpen",
                f"the circuit of {target.provider}/{target.model} is open",
                opens_in_s=opens,
            )
        chosen = self._choose_key(target.provider, first_key, asked[0] if asked else None)
        if isinstance(chosen, Skip | Wait):
            self._give_back(breakers, model_permit)
            return chosen
        key_id, key_permit = chosen
        if provider.rate_limit is not None:
            wait = self.limiter.acquire_for(
                f"{target.provider}/{key_id}", provider.rate_limit, tokens
            )
            if wait > 0:
                self._give_back(breakers, model_permit, key_permit)
                return Wait(wait)
        secret = self._secrets[target.provider][key_id]
        return Admitted(key_id, secret, model_permit, key_permit, extra)

    def settle(
        self,
        target: TargetRef,
        ticket: Admitted,
        *,
        error: ProviderError | None,
        latency_s: float,
    ) -> list[Transition]:
        """Record the call with both circuits; a key the provider refused leaves the rotation."""
        calls = self.settle_calls(target, ticket, error=error, latency_s=latency_s)
        changes = run_scripts(self.client, calls)
        if isinstance(error, AuthError) and ticket.key_id != PLACEHOLDER_KEY_ID:
            pool = self._pools[target.provider]
            if pool.take_out(ticket.key_id, f"{error.status_code}: {error.message[:200]}"):
                log.error(
                    "API key taken out of rotation",
                    key=ticket.key_id,
                    provider=target.provider,
                    status_code=error.status_code,
                )
        return [change for change in changes if change is not None]

    def settle_calls(
        self,
        target: TargetRef,
        ticket: Admitted,
        *,
        error: ProviderError | None,
        latency_s: float,
    ) -> list[ScriptCall[Transition | None]]:
        """The circuits' part of ``settle``, to run with other writes (``broker.script_batch``);
        for a call that got an answer, which is all ``settle`` does then."""
        breakers = self._breakers[target.provider]
        # A provider outage is the model's circuit's business; the key's circuit opens only for
        # what is the key's own fault, so that its traffic moves to the provider's other keys.
        counted = (
            (ticket.model_permit, counts_toward_circuit(error)),
            (ticket.key_permit, isinstance(error, _KEY_FAILURES)),
        )
        calls = [
            breakers.record_call(
                permit.target,
                success=error is None,
                latency_s=latency_s,
                permit=permit,
                counts=counts,
                hold_s=_hold_s(error) if permit is ticket.key_permit else 0.0,
            )
            for permit, counts in counted
        ]
        return [call for call in calls if call is not None]

    def cancel(self, target: TargetRef, ticket: Admitted) -> None:
        """Hand back a ticket that was not used for a call."""
        self._give_back(self._breakers[target.provider], ticket.model_permit, ticket.key_permit)

    def _choose_key(
        self, provider: str, first_key: str | None, asked: Permit | None
    ) -> tuple[str, Permit] | Wait | Skip:
        """The first key in rotation, from ``first_key`` on, whose own circuit lets a call
        through. ``asked``: a permit already taken for the provider's only key. With none, a
        wait for the first key whose 429 hold ends, if any key is only held."""
        pool, breakers = self._pools[provider], self._breakers[provider]
        key_id = first_key
        held: list[float] = []
        for turn in range(max(1, len(self._secrets[provider]))):
            if turn:
                key_id = pool.next_key()
            if key_id is None:
                break
            target = key_target(provider, key_id)
            permit = asked if asked is not None else breakers.before_call(target)
            if permit.target == target and permit.allowed:
                return key_id, permit
            if permit.target == target and permit.held:
                held.append(permit.retry_after_s)
            asked = None
        if asked is not None:  # the only key is out of rotation: its permit goes unused
            self._give_back(breakers, asked)
        if held:
            return Wait(min(held), f"every usable API key of {provider} is held by a 429")
        return Skip(
            "AuthError",
            f"no usable API key for {provider}: every key is taken out, "
            "missing, or has an open circuit",
        )

    @staticmethod
    def _give_back(breakers: CircuitBreakers, *permits: Permit) -> None:
        """A permit not used for a call: a probe's slot is released, nothing is counted."""
        for permit in permits:
            breakers.record(
                permit.target, success=False, latency_s=0.0, permit=permit, counts=False
            )

    def _read_secrets(self, provider: ProviderConfig) -> dict[str, str]:
        """Key id (the variable's name, never the key) -> the key, for the keys that are set."""
        placeholder = provider.placeholder_key
        ids = key_ids(provider.key_env_names, self.environ, placeholder=placeholder is not None)
        if placeholder is not None:
            return dict.fromkeys(ids, placeholder)
        return {name: self.environ[name] for name in ids}


def _hold_s(error: ProviderError | None) -> float:
    """How long a call's key is held for every worker: a 429's Retry-After. A 429 without one
    holds nothing: the job's own retry backs off, and the rate limit (if any) spaces calls."""
    if isinstance(error, RateLimited) and error.retry_after is not None:
        return max(error.retry_after, 0.0)
    return 0.0
