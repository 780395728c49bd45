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
    args: Sequence[str | int | float]
    parse: Callable[[Any], T] = _as_is


def run_script(client: redis.Redis, call: ScriptCall[T]) -> T:
    """Run one call (redis-py loads the script if the server lacks it)."""
    return call.parse(call.script(keys=list(call.keys), args=list(call.args), client=client))


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
    pipe = client.pipeline(transaction=False)
    for call in calls:
        pipe.evalsha(call.script.sha, len(call.keys), *call.keys, *call.args)
    return list(pipe.execute(raise_on_error=False))
