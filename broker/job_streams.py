"""A streamed job's Redis stream: what the worker appends and how readers read it back.

Every entry has a ``kind`` and a JSON ``data`` field:

- ``chunk``: an OpenAI ``chat.completion.chunk`` as the worker's parser gave it;
- ``reset``: what came before it is not to be used (``data`` names the error that broke it);
  a reader discards what it got, since the answer that follows (another attempt, maybe on
  another target) starts again from its first chunk. The next attempt writes it, with its
  first chunk: an attempt that failed after appending part of an answer leaves no reset,
  because the next may continue that part instead (a prefill, ``workers/stream_resume.py``).

The stream ends with the job: a reader stops when the job's result is stored (``end`` in
``read_job_stream``), and the entry ids are the SSE event ids a caller resumes from.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast

import redis

from broker.jobs import CompletionResult, FailedResult
from broker.keys import Keys
from broker.store import JobStore

__all__ = [
    "StreamFailed",
    "client_chunks",
    "JobStreamWriter",
    "ReadPace",
    "StreamEntry",
    "StreamEnd",
    "decode_entries",
    "is_usage_chunk",
    "read_job_stream",
]

EntryKind = Literal["chunk", "reset"]
# What a reader waits in one XREAD BLOCK before it looks at the job's result again.
_BLOCK_MS = 1000
# After the usage chunk (the last of an answer) the result is a round trip away: look again
# after this, then after twice as long each time, up to _BLOCK_MS.
_SOON_MS = 10


@dataclass(frozen=True, slots=True)
class StreamEntry:
    id: str
    kind: EntryKind
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class StreamEnd:
    """The job ended: its result (None when the reader's wait ran out first)."""

    result: CompletionResult | FailedResult | None


class StreamFailed(RuntimeError):
    """The streamed job ended without an answer (its FailedResult), or the wait ran out."""

    def __init__(self, job_id: str, result: FailedResult | None) -> None:
        self.result = result
        reason = f"{result.error_class}: {result.error_message}" if result else "timed out"
        super().__init__(f"job {job_id}: {reason}")


def is_usage_chunk(entry: StreamEntry) -> bool:
    """The chunk with the usage and no choices: the last of an answer."""
    return entry.kind == "chunk" and not entry.data.get("choices") and "usage" in entry.data


def decode_entries(replies: Any) -> list[StreamEntry]:
    """The entries of XREAD's reply for one stream (empty for a reply of none)."""
    found = []
    for entry_id, fields in replies[0][1] if replies else ():
        text = {_text(name): _text(value) for name, value in fields.items()}
        kind: EntryKind = "reset" if text.get("kind") == "reset" else "chunk"
        found.append(StreamEntry(_text(entry_id), kind, json.loads(text.get("data", "{}"))))
    return found


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class ReadPace:
    """When a reader looks at the job's result, and how long its next XREAD blocks: it looks
    after a read that ended on the usage chunk, and after each read that found nothing, at
    first soon (the result follows the usage chunk by a round trip or two), then less often."""

    def __init__(self) -> None:
        self.block_ms = _BLOCK_MS

    def look_now(self, entries: Sequence[StreamEntry]) -> bool:
        if entries and not is_usage_chunk(entries[-1]):
            self.block_ms = _BLOCK_MS
            return False
        self.block_ms = _SOON_MS if entries else min(self.block_ms * 2, _BLOCK_MS)
        return True


class JobStreamWriter:
    """Appends to one job's stream; each append is one round trip, capped and given the TTL.
    One writer serves one attempt (the job's claim keeps attempts from overlapping)."""

    def __init__(self, client: redis.Redis, keys: Keys, job_id: str, ttl_s: int, maxlen: int):
        self._client = client
        self._key = keys.job_stream(job_id)
        self._cancel_key = keys.job_cancel(job_id)
        self._ttl_s = ttl_s
        self._maxlen = maxlen
        self._pending: list[tuple[EntryKind, dict[str, Any]]] = []

    def append(self, chunks: Sequence[dict[str, Any]]) -> None:
        entries: list[tuple[EntryKind, dict[str, Any]]] = [("chunk", chunk) for chunk in chunks]
        if entries and self._pending:
            entries[:0], self._pending = self._pending, []
        self._add(entries)

    def reset(self, error_class: str, message: str) -> None:
        self._add([("reset", {"error_class": error_class, "message": message})])

    def reset_before_first(self, error_class: str, message: str) -> None:
        """A reset to go with this attempt's first chunk (none if it appends nothing): what an
        earlier attempt left is not to be continued."""
        self._pending = [("reset", {"error_class": error_class, "message": message})]

    def entries(self) -> list[StreamEntry]:
        """Every entry the stream holds (what earlier attempts left, for the next to go on
        from)."""
        found = cast(list[Any], self._client.xrange(self._key))
        return decode_entries([(self._key, found)]) if found else []

    def cancel_requested(self) -> bool:
        """Whether the job's streaming caller disconnected and wants it stopped
        (``broker/job_cancel.py``)."""
        return bool(self._client.exists(self._cancel_key))

    def _add(self, entries: Sequence[tuple[EntryKind, dict[str, Any]]]) -> None:
        if not entries:
            return
        pipe = self._client.pipeline(transaction=False)
        for kind, data in entries:
            fields: dict[Any, Any] = {
                "kind": kind,
                "data": json.dumps(data, separators=(",", ":")),
            }
            pipe.xadd(self._key, fields, maxlen=self._maxlen, approximate=True)
        pipe.expire(self._key, self._ttl_s)
        pipe.execute()


def read_job_stream(
    client: redis.Redis, store: JobStore, job_id: str, *, after: str = "0-0", timeout: float
) -> Iterator[StreamEntry | StreamEnd]:
    """The job's entries after ``after`` as they come, then its end (blocking reads: this is
    the Python client's reader; the HTTP API has its own on redis.asyncio)."""
    key = store.keys.job_stream(job_id)
    deadline, pace = time.monotonic() + timeout, ReadPace()
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            yield StreamEnd(None)
            return
        block = max(1, min(int(left * 1000), pace.block_ms))
        entries = decode_entries(client.xread({key: after}, count=200, block=block))
        for entry in entries:
            after = entry.id
            yield entry
        if not pace.look_now(entries):
            continue
        result = store.result(job_id)
        if result is not None:
            yield from decode_entries(client.xread({key: after}, count=10_000))
            yield StreamEnd(result)
            return


def client_chunks(
    client: redis.Redis, store: JobStore, job_id: str, *, after: str, timeout: float
) -> Iterator[dict[str, Any]]:
    """What ``CascadeClient.stream`` yields: each chunk, with its entry id as ``cascade_event_id``
    (to resume after), and a ``{"object": "cascade.reset", ...}`` where what came before is to be
    discarded; raises StreamFailed when the job failed or ``timeout`` passed."""
    for item in read_job_stream(client, store, job_id, after=after, timeout=timeout):
        if isinstance(item, StreamEnd):
            if isinstance(item.result, CompletionResult):
                return
            raise StreamFailed(job_id, item.result)
        if item.kind == "reset":
            yield {"object": "cascade.reset", "cascade_event_id": item.id, **item.data}
        else:
            yield {**item.data, "cascade_event_id": item.id}
