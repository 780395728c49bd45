"""Waiting for many jobs on their own done channels, for the client's and the HTTP API's waits.

A wait subscribes to ``done_channel(job_id)`` of each job it waits for, on which the job's end
is published once (``broker/store_scripts.py``'s FINISH, a cancel, a pipeline's or a batch's
failure), rather than to the events channel, which carries every status change of every job of
every tenant: there a waiter read and parsed the whole broker's traffic to find its own jobs,
so its CPU grew with other tenants' batches and not with what it waited for. Redis takes many
channels in one ``SUBSCRIBE``; they go in chunks so that no command grows with a wait's size.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from broker.keys import Keys

__all__ = ["SUBSCRIBE_CHUNK", "done_channels", "ended_job", "subscribe_chunks"]

SUBSCRIBE_CHUNK = 1000


def done_channels(keys: Keys, job_ids: Iterable[str]) -> dict[str, str]:
    """Each job's done channel, mapped to its job id."""
    return {keys.done_channel(job_id): job_id for job_id in job_ids}


def subscribe_chunks(channels: Iterable[str]) -> Iterator[list[str]]:
    """``channels`` in lists of at most ``SUBSCRIBE_CHUNK``, one ``SUBSCRIBE`` each."""
    chunk: list[str] = []
    for channel in channels:
        chunk.append(channel)
        if len(chunk) == SUBSCRIBE_CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def ended_job(message: Mapping[str, Any] | None, channels: Mapping[str, str]) -> str | None:
    """The id of the job whose end ``message`` announces, or None for any other message."""
    if message is None or message.get("type") != "message":
        return None
    channel = message.get("channel")
    name = channel.decode() if isinstance(channel, bytes) else str(channel)
    return channels.get(name)
