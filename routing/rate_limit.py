"""Rate limits shared by every worker: requests and tokens per window, GCRA in one Lua script.

GCRA (the generic cell rate algorithm) keeps one number per limit, the theoretical arrival time
(TAT): when the limit would be back to idle if every granted cost were paid off at the emission
interval ``T``. A call costing ``n`` cells (1 for a request, its tokens for tokens) may go when
``max(TAT, now) + n*T - burst*T <= now``; then TAT moves to ``max(TAT, now) + n*T``.

The promise, measured where the provider measures it. ``k`` grants inside any closed stretch of
``w`` seconds satisfy ``k <= w/T + b`` (TAT is at least the stretch's start plus ``k*T`` after
them, and at most the last grant plus ``b*T``). With ``T = W/(L - b + 1)`` a window of ``W``
could hold ``L + 1`` grants, the first and the last exactly ``W`` apart: that is how a 60 rpm key
let 61 calls reach the provider in one minute. And the provider counts arrivals, not grants:
a call granted first may arrive after one granted later (threads, connections). So the interval
pays for a guard ``G`` too, ``T = (W + G)/(L - b + 1)``: ``L + 1`` grants then span at least
``W + G`` (one microsecond more, so that a window closed at both ends counts right too), and
as long as no call takes ``G`` longer from its grant to the provider than
another, no window of ``W`` at the provider holds more than ``L``. A burst is paid for with
sustained rate: ``b = 1`` (the default) is a smooth ``L`` per ``W + G``.

A call costing more than the burst (a request with more tokens than the token burst) would never
fit, so it goes once the limit is idle and overdraws it: later calls wait until it is paid off,
and the window may then hold up to that call's excess over the burst.

Both limits are checked and charged together, atomically, in one round trip; a refused call
charges nothing. Times are the Redis server's (``TIME``), so the machines' clocks do not matter.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import redis
from pydantic import BaseModel, ConfigDict, Field, model_validator

from broker.keys import Keys

__all__ = ["RateLimitConfig", "RateLimiter", "emission_interval_us"]

# KEYS: the limit's hash. ARGV: now in microseconds ('' = server time), request interval us
# (0 = no limit), request burst, token interval us (0 = no limit), token burst, tokens.
# Returns '0' when granted (and charged), else the microseconds to wait (nothing charged).
_ACQUIRE = """
local now
if ARGV[1] ~= '' then
  now = tonumber(ARGV[1])
else
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local stored = redis.call('HMGET', KEYS[1], 'requests', 'tokens')
local horizon = now

local function check(tat, interval, burst, cost)
  tat = tonumber(tat) or 0
  if tat > horizon then horizon = tat end
  if interval <= 0 or cost <= 0 then return false, 0 end
  if tat < now then tat = now end
  local new_tat = tat + cost * interval
  local allow_at = new_tat - math.max(burst, cost) * interval
  if allow_at > now then return false, allow_at - now end
  return new_tat, 0
end

local requests, request_wait = check(stored[1], tonumber(ARGV[2]), tonumber(ARGV[3]), 1)
local tokens, token_wait = check(stored[2], tonumber(ARGV[4]), tonumber(ARGV[5]),
  tonumber(ARGV[6]))
local wait = math.max(request_wait, token_wait)
if wait > 0 then return string.format('%.0f', wait) end
if requests then
  redis.call('HSET', KEYS[1], 'requests', string.format('%.0f', requests))
  if requests > horizon then horizon = requests end
end
if tokens then
  redis.call('HSET', KEYS[1], 'tokens', string.format('%.0f', tokens))
  if tokens > horizon then horizon = tokens end
end
if horizon > now then
  redis.call('PEXPIRE', KEYS[1], math.ceil((horizon - now) / 1000) + 1)
end
return '0'
"""


class RateLimitConfig(BaseModel):
    """A provider key's limits (``ProviderConfig.rate_limit``); None means no limit."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rpm: int | None = Field(default=None, ge=1, description="requests per window per key")
    tpm: int | None = Field(default=None, ge=1, description="tokens per window per key")
    request_burst: int = Field(default=1, ge=1, description="requests that may go at once")
    token_burst: int = Field(default=1, ge=1, description="tokens that may go at once")
    window_s: float = Field(
        default=60,
        gt=0,
        description="the window the provider counts rpm and tpm over: a minute, unless it "
        "counts over shorter ones (Azure OpenAI checks per 1 or 10 s)",
    )
    guard_s: float = Field(
        default=0.5,
        ge=0,
        description="the most one call may take longer than another from its grant to the "
        "provider; paid for in rate, so that no provider window holds more than the limit",
    )

    @model_validator(mode="after")
    def _burst_within_limit(self) -> RateLimitConfig:
        if self.rpm is not None and self.request_burst > self.rpm:
            raise ValueError(f"request_burst {self.request_burst} exceeds rpm {self.rpm}")
        if self.tpm is not None and self.token_burst > self.tpm:
            raise ValueError(f"token_burst {self.token_burst} exceeds tpm {self.tpm}")
        if self.guard_s >= self.window_s:
            raise ValueError(f"guard_s {self.guard_s} must be below window_s {self.window_s}")
        return self


def emission_interval_us(
    per_window: int, burst: int, *, window_s: float = 60.0, guard_s: float = 0.0
) -> int:
    """GCRA's interval for ``per_window`` in ``window_s`` with ``burst`` and a guard, in whole
    microseconds: the least that exceeds the exact quotient, so that ``L + 1`` grants span
    strictly more than ``W + G`` and even a window closed at both ends holds ``L`` at most."""
    if not 1 <= burst <= per_window:
        raise ValueError(f"burst must be between 1 and the limit {per_window}, not {burst}")
    return math.floor((window_s + guard_s) * 1_000_000 / (per_window - burst + 1)) + 1


class RateLimiter:
    """Shared limits, one per bucket (e.g. ``alpha/<key id>``). Thread-safe.

    ``clock`` (epoch seconds) replaces the Redis server's time; for tests only.
    """

    def __init__(
        self, client: redis.Redis, keys: Keys, clock: Callable[[], float] | None = None
    ) -> None:
        self.keys = keys
        self.clock = clock
        self._acquire = client.register_script(_ACQUIRE)

    def acquire(
        self,
        bucket: str,
        *,
        rpm: int | None,
        tpm: int | None,
        tokens: int,
        request_burst: int = 1,
        token_burst: int = 1,
        window_s: float = 60.0,
        guard_s: float = 0.0,
    ) -> float:
        """0.0 if the call may go now (its request and tokens are charged), else the seconds to
        wait before asking again (nothing charged). ``rpm`` and ``tpm`` count per ``window_s``;
        ``guard_s`` as in ``RateLimitConfig``."""
        now = "" if self.clock is None else str(round(self.clock() * 1_000_000))
        span = {"window_s": window_s, "guard_s": guard_s}
        waited = self._acquire(
            keys=[self.keys.rate_limit(bucket)],
            args=[
                now,
                0 if rpm is None else emission_interval_us(rpm, request_burst, **span),
                request_burst,
                0 if tpm is None else emission_interval_us(tpm, token_burst, **span),
                token_burst,
                max(tokens, 0),
            ],
        )
        return int(waited) / 1_000_000

    def acquire_for(self, bucket: str, config: RateLimitConfig, tokens: int) -> float:
        """``acquire`` with a provider's configured limits."""
        return self.acquire(
            bucket,
            rpm=config.rpm,
            tpm=config.tpm,
            tokens=tokens,
            request_burst=config.request_burst,
            token_burst=config.token_burst,
            window_s=config.window_s,
            guard_s=config.guard_s,
        )
