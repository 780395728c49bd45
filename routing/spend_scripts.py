"""The spend ledger's Lua scripts (``routing.spend.SpendLedger`` builds their keys and arguments).

A hold (``spend:hold:<id>``) is what one call reserved: ``{usd, tok, keys}``. It is written by
``RESERVE`` and deleted by whichever step ends the call: ``RELEASE`` (no charge), ``SETTLE`` in
``call`` mode (the provider's reported usage) or in ``lost`` mode (the call's worker died: the
reservation itself is counted as spent). A step that finds no hold counts nothing, so each call
is counted once whichever of them runs, or runs twice.

Every usage hash is listed in the index of its period (``usage:index:<period>``), which expires a
day after the hashes it lists. A hash's labels (scope, name, period), its TTL and its place in
the index are written by the step that creates it (``HSETNX`` of its scope), not again by every
call: the TTL of a period's hash runs from the period's first call, which is when its period
began or later, and that saved five commands per usage hash per call (issue 18).
Amounts from cjson come back as Lua numbers: they are formatted with %d, since Redis refuses
"-0" and exponent notation as integers.
"""

from __future__ import annotations

__all__ = ["RELEASE", "RESERVE", "SETTLE"]


# KEYS: provider-day, provider-month, tenant-day, tenant-month, hold, then the four keys' index.
# ARGV: est nanos, est tokens, critical, hold ttl, then per cap key: usd cap nanos (-1: none),
# token cap (-1: none), near fraction, key ttl, scope, name, period.
# Returns {level, key index, unit, used, cap}; level 0 ok, 1 near (reserved), 2 near and not
# critical (not reserved), 3 capped (not reserved).
RESERVE = """
local est_usd, est_tok = tonumber(ARGV[1]), tonumber(ARGV[2])
local worst = {0, 0, '', '0', '0'}
for i = 1, 4 do
  local b = 5 + (i - 1) * 7
  local caps = {{'usd', tonumber(ARGV[b]), 'cost_nanos', 'reserved_nanos', est_usd},
                {'tokens', tonumber(ARGV[b + 1]), 'total_tokens', 'reserved_tokens', est_tok}}
  local near = tonumber(ARGV[b + 2])
  for _, c in ipairs(caps) do
    if c[2] >= 0 then
      local h = redis.call('HMGET', KEYS[i], c[3], c[4])
      local used = (tonumber(h[1]) or 0) + (tonumber(h[2]) or 0)
      if used + c[5] > c[2] then
        return {3, i, c[1], tostring(used), tostring(c[2])}
      end
      if used + c[5] >= near * c[2] and worst[1] == 0 then
        worst = {1, i, c[1], tostring(used), tostring(c[2])}
      end
    end
  end
end
if worst[1] == 1 and ARGV[3] ~= '1' then
  worst[1] = 2
  return worst
end
for i = 1, 4 do
  local b = 5 + (i - 1) * 7
  redis.call('HINCRBY', KEYS[i], 'reserved_nanos', ARGV[1])
  redis.call('HINCRBY', KEYS[i], 'reserved_tokens', ARGV[2])
  if redis.call('HSETNX', KEYS[i], 'scope', ARGV[b + 4]) == 1 then
    redis.call('HSET', KEYS[i], 'name', ARGV[b + 5], 'period', ARGV[b + 6])
    redis.call('EXPIRE', KEYS[i], ARGV[b + 3])
    redis.call('SADD', KEYS[5 + i], KEYS[i])
    redis.call('EXPIRE', KEYS[5 + i], tonumber(ARGV[b + 3]) + 86400)
  end
end
redis.call('SET', KEYS[5], cjson.encode({usd = ARGV[1], tok = ARGV[2],
  keys = {KEYS[1], KEYS[2], KEYS[3], KEYS[4]}}), 'EX', ARGV[4])
return worst
"""

# The start of every script that ends a call: take the hold (KEYS[1]) off the counters it
# reserved on and delete it; a hold already gone ends the script with 0.
_END_HOLD = """
local hold = redis.call('GET', KEYS[1])
if not hold then
  return 0
end
local h = cjson.decode(hold)
for _, key in ipairs(h.keys) do
  redis.call('HINCRBY', key, 'reserved_nanos', string.format('%d', -h.usd))
  redis.call('HINCRBY', key, 'reserved_tokens', string.format('%d', -h.tok))
end
redis.call('DEL', KEYS[1])
"""

# Give a hold's reservation back. KEYS: hold. Returns 1 if a reservation was released.
RELEASE = (
    _END_HOLD
    + """
return 1
"""
)

# End a call's hold and count the call on every usage key. KEYS: hold, then per usage key: the
# key and its index. ARGV: mode ('call': the reported usage; 'lost': the hold's own amounts, as
# the cost of a call whose worker died), cost nanos, prompt, completion, total tokens, then per
# usage key: ttl, scope, name, period. Returns 1 if the call was counted, 0 if its hold was gone.
SETTLE = (
    _END_HOLD
    + """
local cost, prompt, completion, total = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local counter = 'jobs'
if ARGV[1] == 'lost' then
  cost, prompt, completion = string.format('%d', h.usd), '0', '0'
  total, counter = string.format('%d', h.tok), 'lost_calls'
end
for i = 1, (#KEYS - 1) / 2 do
  local key, index, b = KEYS[2 * i], KEYS[2 * i + 1], 6 + (i - 1) * 4
  redis.call('HINCRBY', key, 'cost_nanos', cost)
  redis.call('HINCRBY', key, 'prompt_tokens', prompt)
  redis.call('HINCRBY', key, 'completion_tokens', completion)
  redis.call('HINCRBY', key, 'total_tokens', total)
  redis.call('HINCRBY', key, counter, 1)
  if redis.call('HSETNX', key, 'scope', ARGV[b + 1]) == 1 then
    redis.call('HSET', key, 'name', ARGV[b + 2], 'period', ARGV[b + 3])
    redis.call('EXPIRE', key, ARGV[b])
    redis.call('SADD', index, key)
    redis.call('EXPIRE', index, tonumber(ARGV[b]) + 86400)
  end
end
return 1
"""
)
