"""A worker takes a message off its queue and records it as unacknowledged in one script.

kombu's Redis transport pops a message with ``BRPOP`` and records it in a second round trip
(``QoS.append``: the ``unacked`` hash and its index). Between the two the message is nowhere but
in the worker's memory: a worker SIGKILLed there, or a Redis that served the pop in the turn it
shut down, loses it, and its job never ends (docs/ARCHITECTURE.md, "Delivery guarantees"). One
Lua script cannot block, and ``BLMOVE`` takes one list where a worker consumes several, so the
worker blocks on the queues' bells instead (``broker.keys.celery_queue_bell``: every publisher
rings once per message it pushes) and then runs ``_POP``: the first message of its lists, in
kombu's order, taken off and recorded together, as kombu would have recorded it.

The bells are hints, not the queue: a ring with no message left wakes a worker that finds
nothing and waits again, and a message pushed without a ring (by a publisher outside cascade)
is taken at the latest when the worker's wait times out (``brpop_timeout``, 1 s). Each pop
trims its queue's bell to the messages left, and a pop that finds nothing clears the bells, so
rings never pile up. A worker whose last pop left messages on its queue looks again at once,
without waiting on a bell: a queue with work waiting costs one round trip per message (kombu's
pop and record took two), and a burst pushed without rings drains as fast as one with them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis

from broker.keys import celery_queue_bell

__all__ = ["PopCall", "Popped", "pop_call"]

# KEYS: kombu's unacked hash, its index, the bell of each of the m queues, then the lists to
# take from in kombu's order (priority step by step, every queue in each: list j is queue
# (j - 1) % m + 1's). ARGV: now (epoch s, the index's score), m, the number of priority steps.
# Returns false, or {list, message, delivery tag, messages left on the list's queue}; the tag
# is false for a message the script could not read (not kombu's JSON), which it leaves
# unrecorded for kombu's own append.
_POP = """
local m, steps = tonumber(ARGV[2]), tonumber(ARGV[3])
local lists = m * steps
for j = 1, lists do
  -- Taken first: under maxmemory Redis refuses a script's writes only until its first one,
  -- so the record after the pop is never refused half-way (and a refused pop takes nothing).
  local item = redis.call('RPOP', KEYS[2 + m + j])
  if item then
    local tag, ex, rk = false, nil, nil
    local ok, message = pcall(cjson.decode, item)
    if ok and type(message) == 'table' and type(message.properties) == 'table' then
      local info = message.properties.delivery_info
      if type(info) == 'table' then ex, rk = info.exchange, info.routing_key end
      tag = message.properties.delivery_tag
    end
    if type(tag) == 'string' and type(ex) == 'string' and type(rk) == 'string' then
      redis.call('ZADD', KEYS[2], ARGV[1], tag)
      redis.call('HSET', KEYS[1], tag,
        '[' .. item .. ',' .. cjson.encode(ex) .. ',' .. cjson.encode(rk) .. ']')
    else
      tag = false
    end
    local queue = (j - 1) % m + 1
    local left = 0
    for step = 0, steps - 1 do left = left + redis.call('LLEN', KEYS[2 + m + queue + step * m]) end
    if left == 0 then
      redis.call('DEL', KEYS[2 + queue])
    else
      redis.call('LTRIM', KEYS[2 + queue], 0, left - 1)
    end
    return {KEYS[2 + m + j], item, tag, left}
  end
end
for queue = 1, m do redis.call('DEL', KEYS[2 + queue]) end
return false
"""

_SHA = hashlib.sha1(_POP.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Popped:
    """A message taken off ``key``; ``tag`` is set when the script recorded it as unacked;
    ``left``: the messages its queue still holds."""

    key: str
    payload: bytes
    tag: str | None
    left: int


@dataclass(frozen=True, slots=True)
class PopCall:
    """One run of the pop over a consumer's lists, sent on its connection and read back apart,
    as kombu's poll loop sends a command and reads its reply when the socket is ready."""

    keys: list[str]
    args: list[str | int]

    def send(self, connection: Any) -> None:
        connection.send_command("EVALSHA", _SHA, len(self.keys), *self.keys, *self.args)

    def read(self, client: redis.Redis, connection: Any) -> Popped | None:
        """The reply; loads the script when Redis does not know it yet (and runs it then)."""
        reader: Any = client  # redis-py's parse_response is untyped
        try:
            reply = reader.parse_response(connection, "EVALSHA")
        except redis.exceptions.NoScriptError:
            connection.send_command("EVAL", _POP, len(self.keys), *self.keys, *self.args)
            reply = reader.parse_response(connection, "EVAL")
        if not reply:
            return None
        key, payload, tag, left = reply
        return Popped(_text(key), payload, None if tag is None else _text(tag), int(left))


def pop_call(
    unacked: str,
    unacked_index: str,
    queues: Sequence[str],
    lists: Sequence[str],
    now: float,
) -> PopCall:
    """The pop for ``queues`` and their ``lists`` in kombu's order (every queue's list for the
    first priority step, then for the next, ...), recording at ``now``."""
    keys = [unacked, unacked_index, *(celery_queue_bell(queue) for queue in queues), *lists]
    return PopCall(keys, [f"{now:.6f}", len(queues), len(lists) // len(queues)])


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
