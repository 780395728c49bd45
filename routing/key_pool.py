"""A provider's API keys in rotation, shared by every worker; a refused key is taken out.

The pool knows key ids only (the name of the variable a key lives in, or a short hash of it),
never a secret: Redis holds a round-robin counter and the ids taken out, each with its reason
and time, for ``cascade health`` to report until an operator restores it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import redis

from broker.keys import Keys
from broker.script_batch import ScriptCall, run_script

__all__ = ["KeyPool", "PLACEHOLDER_KEY_ID", "TakenOut", "key_ids"]

# KEYS: cursor, taken-out hash. ARGV: the pool's key ids in order.
# The cursor indexes the keys still in rotation, so they share the calls evenly.
_NEXT_KEY = """
local available = {}
for _, id in ipairs(ARGV) do
  if redis.call('HEXISTS', KEYS[2], id) == 0 then available[#available + 1] = id end
end
if #available == 0 then return false end
local turn = redis.call('INCR', KEYS[1])
return available[(turn % #available) + 1]
"""


@dataclass(frozen=True, slots=True)
class TakenOut:
    reason: str
    at: float  # epoch seconds


class KeyPool:
    """Round robin over a provider's key ids, minus those taken out. Thread-safe."""

    def __init__(
        self,
        client: redis.Redis,
        keys: Keys,
        provider: str,
        key_ids: Sequence[str],
        clock: Callable[[], float] = time.time,
    ) -> None:
        if len(set(key_ids)) != len(key_ids):
            raise ValueError(f"key ids repeat: {list(key_ids)}")
        self.client = client
        self.provider = provider
        self.key_ids = tuple(key_ids)
        self.clock = clock
        self._cursor = keys.key_pool_cursor(provider)
        self._out = keys.key_pool_out(provider)
        self._next_key = client.register_script(_NEXT_KEY)

    def next_key(self) -> str | None:
        """The next key id in rotation, or None when every key is taken out."""
        return run_script(self.client, self.next_key_call())

    def next_key_call(self) -> ScriptCall[str | None]:
        """``next_key`` as a call to run with others (``broker.script_batch``)."""
        return ScriptCall(
            self._next_key, [self._cursor, self._out], list(self.key_ids), parse=_key_id
        )

    def take_out(self, key_id: str, reason: str) -> bool:
        """Take the key out of rotation. True if this call took it out (report it once)."""
        if key_id not in self.key_ids:
            raise KeyError(f"{key_id!r} is not a key of {self.provider}: {list(self.key_ids)}")
        record = json.dumps({"reason": reason, "at": self.clock()})
        return bool(self.client.hsetnx(self._out, key_id, record))

    def restore(self, key_id: str) -> bool:
        """Put the key back in rotation. True if it was out."""
        return bool(self.client.hdel(self._out, key_id))

    def taken_out(self) -> dict[str, TakenOut]:
        """This pool's keys that are out of rotation, with why and since when."""
        raw = self.client.hgetall(self._out)
        result: dict[str, TakenOut] = {}
        for name, value in raw.items():
            key_id = name.decode() if isinstance(name, bytes) else str(name)
            if key_id in self.key_ids:
                record = json.loads(value)
                result[key_id] = TakenOut(reason=str(record["reason"]), at=float(record["at"]))
        return result


def _key_id(chosen: bytes | str | None) -> str | None:
    if chosen is None:
        return None
    return chosen.decode() if isinstance(chosen, bytes) else str(chosen)


PLACEHOLDER_KEY_ID = "placeholder"


def key_ids(
    key_env_names: Sequence[str], environ: Mapping[str, str], *, placeholder: bool = False
) -> list[str]:
    """The ids of a provider's usable keys: the names of its key variables that are set (a key's
    id is where it lives, never the key), or the one placeholder an emulator profile gives."""
    if placeholder:
        return [PLACEHOLDER_KEY_ID]
    return [name for name in key_env_names if environ.get(name)]
