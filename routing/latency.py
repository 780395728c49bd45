"""Observed call latency per (provider, model), for the ``fastest`` route policy.

One Redis hash, ``provider/model`` -> an exponentially weighted moving average of successful
calls' durations in seconds, updated by one Lua script so that concurrent workers never lose an
update. Independent of the circuit breaker's own latency window: this one only orders routes.
"""

from __future__ import annotations

from typing import Protocol

import redis

from broker.script_batch import ScriptCall, run_script

__all__ = ["DEFAULT_ALPHA", "LatencyBook", "LatencyKeys", "ewma"]

# Weight of the newest call: about the last ten calls count.
DEFAULT_ALPHA = 0.2

# KEYS: the hash. ARGV: field, seconds, alpha.
_OBSERVE = """
local old = tonumber(redis.call('HGET', KEYS[1], ARGV[1]))
local new = tonumber(ARGV[2])
if old then
  new = old + tonumber(ARGV[3]) * (new - old)
end
redis.call('HSET', KEYS[1], ARGV[1], tostring(new))
return tostring(new)
"""


class LatencyKeys(Protocol):
    def latency(self) -> str: ...


def ewma(previous: float | None, seconds: float, alpha: float = DEFAULT_ALPHA) -> float:
    """The average after one more observation (the first observation is the average)."""
    return seconds if previous is None else previous + alpha * (seconds - previous)


class LatencyBook:
    def __init__(
        self, client: redis.Redis, keys: LatencyKeys, *, alpha: float = DEFAULT_ALPHA
    ) -> None:
        self.client = client
        self.key = keys.latency()
        self.alpha = alpha
        self._observe = client.register_script(_OBSERVE)

    def observe(self, provider: str, model: str, seconds: float) -> float:
        """Fold one successful call's duration in; returns the new average."""
        return run_script(self.client, self.observe_call(provider, model, seconds))

    def observe_call(self, provider: str, model: str, seconds: float) -> ScriptCall[float]:
        """``observe`` as a call to run with others (``broker.script_batch``)."""
        return ScriptCall(
            self._observe, [self.key], [f"{provider}/{model}", seconds, self.alpha], parse=float
        )

    def snapshot(self) -> dict[tuple[str, str], float]:
        """Every (provider, catalog model name) -> average seconds, for ``LiveState.latencies``."""
        found: dict[tuple[str, str], float] = {}
        for field, value in self.client.hgetall(self.key).items():
            name = field.decode() if isinstance(field, bytes) else str(field)
            provider, _, model = name.partition("/")
            found[(provider, model)] = float(value)
        return found
