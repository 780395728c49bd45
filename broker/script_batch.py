"""Several Lua scripts in one round trip, run by Redis as one script.

The worker's writes around a call go out together (admission's five scripts, the finish's
six). ``run_scripts`` folds the calls of one round trip into a single script that holds each
script's body as a function of its own keys and arguments and runs them in order, so Redis pays
one script call and the client packs and reads one command, not one per script: each
``EVALSHA`` costs Redis its dispatch, its argument tables and its reply, whatever the script
does (docs/performance.md, fifth pass). Each body runs under ``pcall``: one that raises leaves
the others running, as separate scripts would, and its error comes back in its place. The
folded script is built once per sequence of scripts and sent as ``EVALSHA``; a server that does
not know it (it restarted, or ran ``SCRIPT FLUSH``) answers ``NOSCRIPT``, which means nothing
ran, so it is loaded and sent again and no script ever runs twice. redis-py's own pipeline is
not used: it asks ``SCRIPT EXISTS`` (a round trip) on every execute.

Each module keeps its own scripts and their meaning: it hands out a ``ScriptCall`` (the script,
its keys and arguments, and how to read its reply) and runs it alone with ``run_script`` or with
others with ``run_scripts``. A script folded this way must not declare flags (a ``#!lua``
line) and its keys all go to one server, which cascade's single Redis always is.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Generic, TypeVar

import hiredis
import redis
from redis.commands.core import Script
from redis.exceptions import NoScriptError

__all__ = ["ScriptCall", "run_script", "run_scripts"]

T = TypeVar("T")


def _as_is(reply: Any) -> Any:
    return reply


@dataclass(frozen=True, slots=True)
class ScriptCall(Generic[T]):
    """One call of a registered script, and how to turn its raw reply into ``T``."""

    script: Script
    keys: Sequence[str]
    args: Sequence[str | bytes | int | float]
    parse: Callable[[Any], T] = _as_is


def run_script(client: redis.Redis, call: ScriptCall[T]) -> T:
    """Run one call (loading the script first if the server lacks it); its parsed reply."""
    reply: T = run_scripts(client, [call])[0]
    return reply


def run_scripts(client: redis.Redis, calls: Sequence[ScriptCall[Any]]) -> list[Any]:
    """Run the calls in order in one round trip (two if the server lacked the script); their
    parsed replies, in the same order. The first error is raised after every call has run, as
    a pipeline does."""
    if not calls:
        return []
    if len(calls) == 1:
        sha, source = calls[0].script.sha, calls[0].script.script
        keys, args = calls[0].keys, calls[0].args
    else:
        sha, source = _folded(tuple(call.script.script for call in calls))
        keys, args = _folded_keys_and_args(calls)
    reply = _send(client, sha, keys, args)
    if isinstance(reply, NoScriptError):
        client.script_load(source)
        reply = _send(client, sha, keys, args)
    replies = [reply] if len(calls) == 1 else _unfolded(reply, len(calls))
    for each in replies:
        if isinstance(each, Exception):
            raise each
    return [call.parse(each) for call, each in zip(calls, replies, strict=True)]


# The folded script. ARGV[1]: the number of calls n; ARGV[2 .. 2n+1]: each call's key count
# and argument count; then every call's arguments, in order (KEYS: every call's keys). Its reply
# is n followed by each call's reply: an error reply stays in its place, and a nil reply, which
# would end a Lua array, becomes false (nil to the client, as it was).
_FOLD_HEAD = "local bodies = {\n"
_FOLD_BODY = "function(KEYS, ARGV)\n{body}\nend,\n"
_FOLD_TAIL = """}
local n = tonumber(ARGV[1])
local out = {n}
local key_at, arg_at = 0, 1 + 2 * n
for i = 1, n do
  local key_count, arg_count = tonumber(ARGV[2 * i]), tonumber(ARGV[2 * i + 1])
  local keys, argv = {}, {}
  for k = 1, key_count do keys[k] = KEYS[key_at + k] end
  for a = 1, arg_count do argv[a] = ARGV[arg_at + a] end
  key_at, arg_at = key_at + key_count, arg_at + arg_count
  local ok, reply = pcall(bodies[i], keys, argv)
  if not ok then
    if type(reply) ~= 'table' or reply.err == nil then reply = {err = tostring(reply)} end
  elseif reply == nil then
    reply = false
  end
  out[i + 1] = reply
end
return out
"""


@lru_cache(maxsize=256)
def _folded(sources: tuple[str | bytes, ...]) -> tuple[str, str]:
    """The sha and source of the script that runs ``sources`` in order."""
    bodies = [
        _FOLD_BODY.format(body=source if isinstance(source, str) else source.decode())
        for source in sources
    ]
    source = _FOLD_HEAD + "".join(bodies) + _FOLD_TAIL
    return hashlib.sha1(source.encode()).hexdigest(), source


def _folded_keys_and_args(
    calls: Sequence[ScriptCall[Any]],
) -> tuple[list[str], list[str | bytes | int | float]]:
    keys: list[str] = []
    counts: list[str | bytes | int | float] = [len(calls)]
    args: list[str | bytes | int | float] = []
    for call in calls:
        keys.extend(call.keys)
        args.extend(call.args)
        counts.extend((len(call.keys), len(call.args)))
    return keys, counts + args


def _unfolded(reply: Any, count: int) -> list[Any]:
    """Each call's raw reply from the folded script's; an error of the whole (the server
    refused the script) stands for every call's."""
    if isinstance(reply, Exception):
        return [reply] * count
    if not isinstance(reply, list) or len(reply) != count + 1 or reply[0] != count:
        raise redis.ResponseError(f"folded scripts: unexpected reply {reply!r:.200}")
    return reply[1:]


def _send(
    client: redis.Redis,
    sha: str,
    keys: Sequence[str],
    args: Sequence[str | bytes | int | float],
) -> Any:
    """The raw reply, an error reply as its exception. Sent on one of the client's
    connections and under its retry policy (a lost connection is dropped and the call sent
    again, as redis-py does), without redis-py's command machinery, which was about half of
    this round trip's CPU (docs/performance.md)."""
    pool = client.connection_pool
    connection: Any = pool.get_connection()  # redis-py leaves its connections untyped
    try:
        # hiredis packs an EVALSHA as it is; redis-py's packer first walks every argument
        # for bytearrays in Python, a fifth of this function's CPU (docs/performance.md).
        # Any: hiredis's stubs type pack_command's argument as a tuple of one item.
        command: Any = ("EVALSHA", sha, len(keys), *keys, *args)
        packed = hiredis.pack_command(command)
        reply: Any = connection.retry.call_with_retry(
            lambda: _exchange(connection, packed),
            lambda _error: connection.disconnect(),
        )
    finally:
        pool.release(connection)
    return reply


def _exchange(connection: Any, packed: bytes) -> Any:
    connection.send_packed_command([packed])
    try:
        return connection.read_response()
    except redis.ResponseError as exc:  # NOSCRIPT among them: the reply of the call
        return exc
