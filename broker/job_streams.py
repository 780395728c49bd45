"""A streamed job's Redis stream: what the worker appends and how readers read it back.

Every entry has a ``kind`` and a JSON ``data`` field:

- ``chunk``: an OpenAI ``chat.completion.chunk`` as the worker's parser gave it;
- ``reset``: the attempt whose chunks came before it failed after some of its answer was
  appended (``data`` names the error); a reader discards what it got, since the answer that
  follows (another attempt, maybe on another target) starts again from its first chunk.

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
# Written before an attempt's first chunk when the stream's last entry is a chunk: an earlier
# attempt appended an answer that did not become the result and could not say so itself (its
# worker was lost mid-stream, or its whole answer failed the caller's JSON schema).
_SUPERSEDED = {
    "error_class": "AttemptSuperseded",
    "message": "an earlier attempt's answer is not the job's result (its worker was lost, or"
    " the answer failed the job's JSON schema); the next answer follows whole",
}


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
        self._ttl_s = ttl_s
        self._maxlen = maxlen
        self._first = True

    def append(self, chunks: Sequence[dict[str, Any]]) -> None:
        entries: list[tuple[EntryKind, dict[str, Any]]] = [("chunk", chunk) for chunk in chunks]
        if self._first and entries:
            self._first = False
            if self._ends_on_a_chunk():
                entries.insert(0, ("reset", _SUPERSEDED))
        self._add(entries)

    def _ends_on_a_chunk(self) -> bool:
        last = cast(list[Any], self._client.xrevrange(self._key, count=1))
        return bool(last) and decode_entries([(self._key, last)])[0].kind == "chunk"

    def reset(self, error_class: str, message: str) -> None:
        self._add([("reset", {"error_class": error_class, "message": message})])

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
