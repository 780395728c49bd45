"""Circuit breakers shared by every worker: the state lives in Redis, changed by Lua scripts.

One hash per target (``Keys.circuit``) holds everything: ``state``, ``opened_at``,
``open_until``, ``latency`` (an EWMA), the probe leases ``p:<lease>`` -> expiry, the window, and
``held_until``: a 429's Retry-After, which refuses calls until then without opening anything.

The sliding window is kept as ``WINDOW_BUCKETS`` fixed sub-buckets of ``window_s / 10`` seconds
each (fields ``c:<n>`` calls and ``f:<n>`` failures, ``n`` = epoch seconds // bucket width). That
costs a fixed handful of fields per target however many calls it takes, where a sorted set of
timestamps grows with the traffic; the price is that the window is the last ``window_s`` seconds
to within one bucket width. Stale buckets are dropped when a new bucket starts.

Each operation is one round trip: ``before_call`` and ``record`` are Lua scripts, so two workers
can never both take the only probe slot, nor both see the circuit open. Times come from the
Redis server (``TIME``) unless a clock is injected, so machines' clocks need not agree.
A target left alone for a day is forgotten (closed, no history).
"""

from __future__ import annotations

import itertools
import math
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import redis

from broker.keys import Keys
from broker.script_batch import ScriptCall, run_script
from routing.circuit import (
    CircuitPolicy,
    CircuitState,
    CircuitStatus,
    Permit,
    Transition,
    effective_state,
    error_rate,
)

__all__ = ["WINDOW_BUCKETS", "CircuitBreakers"]

WINDOW_BUCKETS = 10
_LATENCY_WEIGHT = 0.2  # EWMA weight of the newest call
_IDLE_TTL_S = 86_400
# Probe leases: unique across processes by a random prefix, then counted. Taken on every call
# although only a half-open circuit uses one, so it must be cheaper than a uuid4 (a syscall).
# itertools.count, not a generator: threads may take leases at the same time.
_LEASE_PREFIX = uuid.uuid4().hex[:12]
_LEASE_NUMBERS = itertools.count()

_NOW = """
local function now_s()
  if ARGV[1] ~= '' then return tonumber(ARGV[1]) end
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end
"""

# ARGV: now ('' = server time), half_open_probes, probe_timeout_s, lease, ttl.
# Returns {allowed, probe, old state, new state, retry after (string), held}: ``held`` says the
# refusal is a rate-limit hold (``held_until``), not the circuit.
_BEFORE_CALL = (
    _NOW
    + """
local h = KEYS[1]
local now = now_s()
local stored = redis.call('HMGET', h, 'state', 'open_until', 'held_until')
local state = stored[1] or 'closed'
local held_until = tonumber(stored[3] or '0')
if state == 'closed' then
  if now < held_until then return {0, 0, 'closed', 'closed', tostring(held_until - now), 1} end
  return {1, 0, 'closed', 'closed', '0', 0}
end
local old = state
if state == 'open' then
  local open_until = tonumber(stored[2] or '0')
  if now < open_until then return {0, 0, 'open', 'open', tostring(open_until - now), 0} end
  state = 'half_open'
  redis.call('HSET', h, 'state', state)
end
if now < held_until then return {0, 0, old, state, tostring(held_until - now), 1} end
local fields = redis.call('HGETALL', h)
local live, first_free = 0, nil
for i = 1, #fields, 2 do
  if string.sub(fields[i], 1, 2) == 'p:' then
    local expiry = tonumber(fields[i + 1])
    if expiry <= now then
      redis.call('HDEL', h, fields[i])
    else
      live = live + 1
      if first_free == nil or expiry < first_free then first_free = expiry end
    end
  end
end
redis.call('EXPIRE', h, ARGV[5])
if live >= tonumber(ARGV[2]) then
  return {0, 0, old, state, tostring(first_free - now), 0}
end
redis.call('HSET', h, 'p:' .. ARGV[4], string.format('%.6f', now + tonumber(ARGV[3])))
return {1, 1, old, state, '0', 0}
"""
)

# ARGV: now, success, counts, latency_s, probe, lease, window_s, buckets, failure_rate,
# min_calls, open_s, latency weight, ttl, hold_s.  Returns {old state, new state}.
# ``hold_s`` > 0 (a 429's Retry-After) refuses calls until then without touching the window.
# The opening rule is routing.circuit.trips.
_RECORD = (
    _NOW
    + """
local h = KEYS[1]
local now = now_s()
local success, counts, probe = ARGV[2] == '1', ARGV[3] == '1', ARGV[5] == '1'
local state = redis.call('HGET', h, 'state') or 'closed'
if state == 'open' and now >= tonumber(redis.call('HGET', h, 'open_until') or '0') then
  state = 'half_open'
end
if ARGV[6] ~= '' then redis.call('HDEL', h, 'p:' .. ARGV[6]) end
local hold = tonumber(ARGV[14])
if hold > 0 then
  local until_s = now + hold
  if until_s > tonumber(redis.call('HGET', h, 'held_until') or '0') then
    redis.call('HSET', h, 'held_until', string.format('%.6f', until_s))
  end
  redis.call('EXPIRE', h, ARGV[13])
end
if not success and not counts then return {state, state} end
redis.call('EXPIRE', h, ARGV[13])

local weight, latency = tonumber(ARGV[12]), tonumber(ARGV[4])
local ewma = tonumber(redis.call('HGET', h, 'latency') or '')
if ewma then latency = weight * latency + (1 - weight) * ewma end
redis.call('HSET', h, 'latency', string.format('%.6f', latency))

local function drop(prefixes)
  local names = redis.call('HKEYS', h)
  for _, name in ipairs(names) do
    if prefixes[string.sub(name, 1, 2)] then redis.call('HDEL', h, name) end
  end
end
local function open()
  redis.call('HSET', h, 'state', 'open', 'opened_at', string.format('%.6f', now),
    'open_until', string.format('%.6f', now + tonumber(ARGV[11])))
  drop({['p:'] = true})
end

if probe and state == 'half_open' then
  if success then
    drop({['p:'] = true, ['c:'] = true, ['f:'] = true})
    redis.call('HSET', h, 'state', 'closed')
    redis.call('HDEL', h, 'opened_at', 'open_until')
    return {state, 'closed'}
  end
  open()
  return {state, 'open'}
end

local buckets = tonumber(ARGV[8])
local current = math.floor(now / (tonumber(ARGV[7]) / buckets))
local oldest = current - buckets + 1
if redis.call('HINCRBY', h, 'c:' .. current, 1) == 1 then
  local names = redis.call('HKEYS', h)
  for _, name in ipairs(names) do
    local prefix = string.sub(name, 1, 2)
    if (prefix == 'c:' or prefix == 'f:') and tonumber(string.sub(name, 3)) < oldest then
      redis.call('HDEL', h, name)
    end
  end
end
if success then return {state, state} end
redis.call('HINCRBY', h, 'f:' .. current, 1)
if state ~= 'closed' then return {state, state} end

local calls, failures = 0, 0
for n = oldest, current do
  local counted = redis.call('HMGET', h, 'c:' .. n, 'f:' .. n)
  calls = calls + (tonumber(counted[1]) or 0)
  failures = failures + (tonumber(counted[2]) or 0)
end
local rate, min_calls = tonumber(ARGV[9]), tonumber(ARGV[10])
if calls >= min_calls and failures >= rate * calls then
  open()
  return {'closed', 'open'}
end
return {state, state}
"""
)

# Returns the state the circuit had ('' when it had none).
_RESET = """
local state = redis.call('HGET', KEYS[1], 'state') or ''
redis.call('DEL', KEYS[1])
return state
"""


class CircuitBreakers:
    """The circuits of one provider's targets, under one policy. Thread-safe.

    ``clock`` (epoch seconds) replaces the Redis server's time; leave it None in production so
    that every machine reads the same clock, inject one in tests.
    """

    def __init__(
        self,
        client: redis.Redis,
        keys: Keys,
        policy: CircuitPolicy,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.client = client
        self.keys = keys
        self.policy = policy
        self.clock = clock
        self._before_call = client.register_script(_BEFORE_CALL)
        self._record = client.register_script(_RECORD)
        self._reset = client.register_script(_RESET)

    def before_call(self, target: str) -> Permit:
        """May a call go to ``target`` now? A half-open circuit hands out probe slots atomically."""
        return run_script(self.client, self.before_call_call(target))

    def before_call_call(self, target: str) -> ScriptCall[Permit]:
        """``before_call`` as a call to run with others (``broker.script_batch``)."""
        lease = f"{_LEASE_PREFIX}-{next(_LEASE_NUMBERS):x}"
        return ScriptCall(
            self._before_call,
            keys=[self.keys.circuit(target)],
            args=[
                self._now_arg(),
                self.policy.half_open_probes,
                self.policy.probe_timeout_s,
                lease,
                _IDLE_TTL_S,
            ],
            parse=lambda reply: _permit(target, lease, reply),
        )

    def record(
        self,
        target: str,
        *,
        success: bool,
        latency_s: float,
        permit: Permit,
        counts: bool = True,
        hold_s: float = 0.0,
    ) -> Transition | None:
        """Record a call's outcome; returns the state change it caused, if any.

        ``counts=False`` is a failure that says nothing of the target's health (say a 429): it
        is not counted and changes nothing, except that a probe gives its slot back. A refused
        permit made no call: there is nothing to record. ``hold_s`` refuses every call for that
        long (``Permit.held``) without counting anything: a 429's Retry-After, which slows the
        target down for every worker instead of opening its circuit.
        """
        call = self.record_call(
            target,
            success=success,
            latency_s=latency_s,
            permit=permit,
            counts=counts,
            hold_s=hold_s,
        )
        return None if call is None else run_script(self.client, call)

    def record_call(
        self,
        target: str,
        *,
        success: bool,
        latency_s: float,
        permit: Permit,
        counts: bool = True,
        hold_s: float = 0.0,
    ) -> ScriptCall[Transition | None] | None:
        """``record`` as a call to run with others (``broker.script_batch``); None when there
        is nothing to record."""
        if not permit.allowed:
            return None
        return ScriptCall(
            self._record,
            keys=[self.keys.circuit(target)],
            args=[
                self._now_arg(),
                int(success),
                int(counts),
                f"{latency_s:.6f}",
                int(permit.probe),
                permit.lease or "",
                self.policy.window_s,
                WINDOW_BUCKETS,
                self.policy.failure_rate,
                self.policy.min_calls,
                self.policy.open_s,
                _LATENCY_WEIGHT,
                _IDLE_TTL_S,
                f"{max(hold_s, 0.0):.6f}",
            ],
            parse=lambda reply: _transition(target, reply[0], reply[1]),
        )

    def reset(self, target: str) -> Transition | None:
        """Forget the target's circuit (closed, empty window); an operator's override."""
        old = _text(self._reset(keys=[self.keys.circuit(target)]))
        return _transition(target, old or "closed", "closed")

    def snapshot(self, targets: Sequence[str]) -> dict[str, CircuitStatus]:
        """Each target's state, window counts and latency as of now, read in one round trip."""
        pipe = self.client.pipeline(transaction=False)
        pipe.time()
        for target in targets:
            pipe.hgetall(self.keys.circuit(target))
        server_time, *hashes = pipe.execute()
        now = self.clock() if self.clock is not None else _seconds(server_time)
        return {
            target: _status(target, _decoded(fields), now, self.policy.window_s)
            for target, fields in zip(targets, hashes, strict=True)
        }

    def open_targets(self, targets: Iterable[str]) -> set[str]:
        """The targets whose circuit refuses calls now (half-open ones are not: they probe)."""
        listed = list(targets)
        pipe = self.client.pipeline(transaction=False)
        pipe.time()
        for target in listed:
            pipe.hmget(self.keys.circuit(target), ["state", "open_until"])
        server_time, *rows = pipe.execute()
        now = self.clock() if self.clock is not None else _seconds(server_time)
        return {
            target
            for target, (state, open_until) in zip(listed, rows, strict=True)
            if state is not None
            and effective_state(CircuitState(_text(state)), _float(open_until), now)
            is CircuitState.OPEN
        }

    def _now_arg(self) -> str:
        return "" if self.clock is None else f"{self.clock():.6f}"


def _status(target: str, fields: Mapping[str, str], now: float, window_s: float) -> CircuitStatus:
    stored = CircuitState(fields.get("state", CircuitState.CLOSED.value))
    open_until = _float(fields.get("open_until"))
    calls, failures = _window_counts(fields, now, window_s)
    return CircuitStatus(
        target=target,
        state=effective_state(stored, open_until, now),
        failures=failures,
        calls=calls,
        error_rate=error_rate(failures, calls),
        latency_s=_float(fields.get("latency")),
        opened_at=_float(fields.get("opened_at")),
        open_until=open_until,
    )


def _window_counts(fields: Mapping[str, str], now: float, window_s: float) -> tuple[int, int]:
    """Calls and failures in the buckets that make up the window ending now (as the Lua does)."""
    current = math.floor(now / (window_s / WINDOW_BUCKETS))
    bucket_numbers = range(current - WINDOW_BUCKETS + 1, current + 1)
    calls = sum(int(fields.get(f"c:{n}", 0)) for n in bucket_numbers)
    failures = sum(int(fields.get(f"f:{n}", 0)) for n in bucket_numbers)
    return calls, failures


def _permit(target: str, lease: str, reply: Sequence[Any]) -> Permit:
    allowed, probe, old, new, retry_after, held = reply
    return Permit(
        target=target,
        allowed=bool(allowed),
        probe=bool(probe),
        held=bool(held),
        state=CircuitState(_text(new)),
        lease=lease if probe else None,
        retry_after_s=max(float(retry_after), 0.0),
        transition=_transition(target, old, new),
    )


def _transition(target: str, old: bytes | str, new: bytes | str) -> Transition | None:
    before, after = CircuitState(_text(old)), CircuitState(_text(new))
    return None if before is after else Transition(target, before, after)


def _decoded(fields: Mapping[Any, Any]) -> dict[str, str]:
    return {_text(name): _text(value) for name, value in fields.items()}


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _float(value: bytes | str | None) -> float | None:
    return None if value is None else float(_text(value))


def _seconds(server_time: tuple[int, int]) -> float:
    seconds, microseconds = server_time
    return seconds + microseconds / 1_000_000
