"""The job store's Lua scripts (``broker.store.JobStore`` builds their keys and arguments).

``BEGIN`` is a delivery's first step, ``FINISH`` a job's last (its result, set once), ``RELEASE``
lets a delivery's claim go and ``ADVANCE`` moves a job's hop forward. Each one is a single round
trip, and each is atomic, which is what lets two racing deliveries of a job agree: one claim, one
final result.
"""

from __future__ import annotations

__all__ = ["ADVANCE", "BEGIN", "FINISH", "RELEASE"]

# KEYS: result, job hash, dead-letter set, attempts, batch hash ('' when none), claim ('' when
# none), call mark ('' when none). ARGV: result JSON, status, ttl, done channel, events channel,
# event JSON, job id, now, is_failure, batch channel ('' when none), the answering call's
# attempt JSON ('' when none), the claim's token ('' when none), dead letters kept at most,
# the pipeline drivers' channel when the job is a pipeline's step ('' when not).
# The batch counters move in the same script as the result, so they never disagree with it.
# The attempt is recorded even when another delivery ended the job first: its call was made.
# The claim is let go here too: the delivery that ends a job has nothing left to guard.
FINISH = """
if KEYS[6] ~= '' and redis.call('GET', KEYS[6]) == ARGV[12] then
  redis.call('DEL', KEYS[6])
end
if ARGV[11] ~= '' then
  redis.call('RPUSH', KEYS[4], ARGV[11])
  redis.call('EXPIRE', KEYS[4], ARGV[3])
end
if KEYS[7] ~= '' then
  redis.call('DEL', KEYS[7])
end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[3]) == false then
  return 0
end
redis.call('HSET', KEYS[2], 'status', ARGV[2], 'finished_at', ARGV[8])
redis.call('EXPIRE', KEYS[2], ARGV[3])
redis.call('EXPIRE', KEYS[4], ARGV[3])
if ARGV[9] == '1' then
  redis.call('ZADD', KEYS[3], ARGV[8], ARGV[7])
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', '(' .. (tonumber(ARGV[8]) - tonumber(ARGV[3])))
  redis.call('ZREMRANGEBYRANK', KEYS[3], 0, -(tonumber(ARGV[13]) + 1))
  redis.call('EXPIRE', KEYS[3], ARGV[3])
end
if KEYS[5] ~= '' then
  redis.call('HINCRBY', KEYS[5], ARGV[2], 1)
  redis.call('PUBLISH', ARGV[10], ARGV[6])
end
redis.call('PUBLISH', ARGV[4], ARGV[2])
redis.call('PUBLISH', ARGV[5], ARGV[6])
if ARGV[14] ~= '' then
  redis.call('PUBLISH', ARGV[14], ARGV[6])
end
return 1
"""

# KEYS: result, job hash, claim, attempts, call mark. ARGV: hop, claim token, claim ttl, events
# channel, the 'running' event JSON. A delivery's first step, in one round trip: stand down if
# the job ended, is unknown, moved past this hop or is held by another delivery; else take the
# claim, mark the job running on this hop, and hand back its record (as it was), its attempts
# and the mark of a call an earlier delivery started and never recorded ('' when none). With a
# sixth key, the Celery list the delivery's message came from, a started delivery also hands
# back how many messages that list holds (-1 without it): what the dispatcher's take-wake
# needs (broker/scheduler/wakes.py), at no round trip of its own.
BEGIN = """
if redis.call('EXISTS', KEYS[1]) == 1 then return {'finished'} end
local fields = redis.call('HGETALL', KEYS[2])
if #fields == 0 then return {'unknown'} end
local hop = tonumber(redis.call('HGET', KEYS[2], 'hop'))
if hop > tonumber(ARGV[1]) then return {'stale', hop} end
if not redis.call('SET', KEYS[3], ARGV[2], 'NX', 'EX', ARGV[3]) then
  return {'claimed', redis.call('PTTL', KEYS[3]), redis.call('HGET', KEYS[2], 'route')}
end
redis.call('HSET', KEYS[2], 'status', 'running', 'hop', ARGV[1])
redis.call('PUBLISH', ARGV[4], ARGV[5])
local queued = -1
if #KEYS >= 6 then queued = redis.call('LLEN', KEYS[6]) end
return {'started', fields, redis.call('LRANGE', KEYS[4], 0, -1),
        redis.call('GET', KEYS[5]) or '', queued}
"""

# KEYS: job hash. ARGV: hop. Move the job's hop forward only.
ADVANCE = """
local current = tonumber(redis.call('HGET', KEYS[1], 'hop') or '-1')
if current < tonumber(ARGV[1]) then
  redis.call('HSET', KEYS[1], 'hop', ARGV[1])
end
return current
"""

# Delete the claim only if this worker still holds it.
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""
