"""Counting redis-py's socket writes in a test: one write is one round trip (a pipeline or a
script is one, however many commands it holds)."""

from __future__ import annotations

import pytest
from redis.connection import AbstractConnection

__all__ = ["count_writes"]


def count_writes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """A list that gets one entry per socket write from now until the test ends."""
    sent: list[int] = []
    original = AbstractConnection.send_packed_command

    def counted(self: AbstractConnection, command: object, check_health: bool = True) -> None:
        sent.append(1)
        original(self, command, check_health)  # type: ignore[no-untyped-call]

    monkeypatch.setattr(AbstractConnection, "send_packed_command", counted)
    return sent
