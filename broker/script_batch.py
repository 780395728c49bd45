"""Several Lua scripts in one round trip: the worker's writes after a call go out together.

redis-py runs a registered script inside a pipeline by first asking ``SCRIPT EXISTS`` (a round
trip of its own) on every execute. ``run_scripts`` sends plain ``EVALSHA`` calls instead and
deals with a server that does not know a script (it restarted, or ran ``SCRIPT FLUSH``) the way
``EVALSHA`` allows: a ``NOSCRIPT`` reply means that script did not run at all, so only those
calls are loaded and sent again, and no script ever runs twice.

Each module keeps its own scripts and their meaning: it hands out a ``ScriptCall`` (the script,
its keys and arguments, and how to read its reply) and runs it alone with ``run_script`` or with
others with ``run_scripts``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
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
    """Run the calls in order in one round trip (two if the server lacked a script); their
    parsed replies, in the same order. The first error other than NOSCRIPT is raised after
    every call has been sent, as a pipeline does."""
    replies = _send(client, calls)
    missing = [index for index, reply in enumerate(replies) if isinstance(reply, NoScriptError)]
    if missing:
        for script in {id(calls[index].script): calls[index].script for index in missing}.values():
            client.script_load(script.script)
        for index, reply in zip(missing, _send(client, [calls[i] for i in missing]), strict=True):
            replies[index] = reply
    for reply in replies:
        if isinstance(reply, Exception):
            raise reply
    return [call.parse(reply) for call, reply in zip(calls, replies, strict=True)]


def _send(client: redis.Redis, calls: Sequence[ScriptCall[Any]]) -> list[Any]:
    """The raw replies, an error reply as its exception. What a non-transactional pipeline
    does, on one of the client's connections and under its retry policy (a lost connection is
    dropped and the calls sent again, as redis-py's pipeline does), minus the pipeline's own
    bookkeeping per call and per execute, which was about half of this round trip's CPU
    (docs/performance.md)."""
    # Any: hiredis's stubs type pack_command's argument as a tuple of one item.
    commands: list[Any] = [
        ("EVALSHA", call.script.sha, len(call.keys), *call.keys, *call.args) for call in calls
    ]
    pool = client.connection_pool
    connection: Any = pool.get_connection()  # redis-py leaves its connections untyped
    try:
        # hiredis packs an EVALSHA as it is; redis-py's packer first walks every argument
        # for bytearrays in Python, a fifth of this function's CPU (docs/performance.md).
        packed = [hiredis.pack_command(command) for command in commands]
        replies: list[Any] = connection.retry.call_with_retry(
            lambda: _exchange(connection, packed, len(commands)),
            lambda _error: connection.disconnect(),
        )
    finally:
        pool.release(connection)
    return replies


def _exchange(connection: Any, packed: list[bytes], count: int) -> list[Any]:
    connection.send_packed_command(packed)
    replies: list[Any] = []
    for _ in range(count):
        try:
            replies.append(connection.read_response())
        except redis.ResponseError as exc:  # NOSCRIPT among them: the reply of that call
            replies.append(exc)
    return replies
