"""Counting Redis work in a test: redis-py's socket writes (one write is one round trip, a
pipeline or a script is one, however many commands it holds), the commands a server ran (its
``INFO commandstats``), and who listens on a channel (``PUBSUB NUMSUB``)."""

from __future__ import annotations

from typing import Any

import pytest
import redis
from redis.connection import AbstractConnection

__all__ = ["command_calls", "count_writes", "subscribers"]


def count_writes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """A list that gets one entry per socket write from now until the test ends."""
    sent: list[int] = []
    original = AbstractConnection.send_packed_command

    def counted(self: AbstractConnection, command: object, check_health: bool = True) -> None:
        sent.append(1)
        original(self, command, check_health)  # type: ignore[no-untyped-call]

    monkeypatch.setattr(AbstractConnection, "send_packed_command", counted)
    return sent


def command_calls(client: redis.Redis, command: str) -> int:
    """How many times the server ran ``command`` (lower case, as ``evalsha``) since its start or
    its last ``CONFIG RESETSTAT``."""
    stats: dict[str, Any] = client.info("commandstats")
    return int(stats.get(f"cmdstat_{command}", {}).get("calls", 0))


def subscribers(client: redis.Redis, channel: str) -> int:
    """How many connections are subscribed to ``channel`` now."""
    return int(dict(client.pubsub_numsub(channel)).get(channel.encode(), 0))
