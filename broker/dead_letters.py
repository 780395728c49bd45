"""The dead letters: failed jobs, listed newest first and replayed under the same id.

The set (``Keys.dead_letters``) is written by ``JobStore``'s finish script, which also bounds
it (the result TTL, ``Settings.dead_letters_max``, a TTL of its own); this module reads it and
turns a failed job back into a queued one.
"""

from __future__ import annotations

import time

import redis

from broker.keys import Keys

__all__ = ["DeadLetters"]

# KEYS: result, job hash, dead-letter set. ARGV: job id, route JSON, ttl, events channel, event.
# Only a failed job is replayed, and only once per failure: the result is removed in the same step.
_REPLAY = """
local result = redis.call('GET', KEYS[1])
if result == false or redis.call('HGET', KEYS[2], 'status') ~= 'failed' then
  return -1
end
redis.call('DEL', KEYS[1])
local run = redis.call('HINCRBY', KEYS[2], 'run', 1)
redis.call('HSET', KEYS[2], 'status', 'queued', 'hop', 0, 'route', ARGV[2])
redis.call('HDEL', KEYS[2], 'finished_at', 'held')
redis.call('EXPIRE', KEYS[2], ARGV[3])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('PUBLISH', ARGV[4], ARGV[5])
return run
"""


class DeadLetters:
    def __init__(self, client: redis.Redis, keys: Keys, ttl_s: int) -> None:
        self.client = client
        self.keys = keys
        self.ttl_s = ttl_s
        self._replay = client.register_script(_REPLAY)

    def newest(self, limit: int = 100) -> list[tuple[str, float]]:
        """The newest failed jobs first: (job id, when it failed, as a Unix time). Ids older
        than the result TTL are left out: their records have expired."""
        found = self.client.zrevrangebyscore(
            self.keys.dead_letters(),
            "+inf",
            time.time() - self.ttl_s,
            start=0,
            num=limit,
            withscores=True,
        )
        return [(_text(item[0]), float(item[1])) for item in found if isinstance(item, tuple)]

    def reopen(self, job_id: str, route_json: str, event: str) -> int | None:
        """Queue a failed job again on the route given as JSON, announcing ``event``; its new
        run number, or None if it is not (or no longer) failed."""
        run = int(
            self._replay(
                keys=[self.keys.result(job_id), self.keys.job(job_id), self.keys.dead_letters()],
                args=[job_id, route_json, self.ttl_s, self.keys.events_channel(), event],
            )
        )
        return None if run < 0 else run


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
