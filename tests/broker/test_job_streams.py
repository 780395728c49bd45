"""A streamed job's Redis stream: written capped and with a TTL, read back in order, ended by
the job's result (against the session's real Redis)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
import redis

from broker.job_streams import (
    JobStreamWriter,
    ReadPace,
    StreamEnd,
    StreamEntry,
    StreamFailed,
    client_chunks,
    decode_entries,
    is_usage_chunk,
    read_job_stream,
)
from broker.jobs import FailedResult
from broker.keys import Keys
from broker.store import JobStore

KEYS = Keys(f"t{uuid.uuid4().hex[:8]}")


def _chunk(text: str) -> dict[str, object]:
    return {"id": "c", "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]}


def _failed(job_id: str) -> FailedResult:
    return FailedResult(
        job_id=job_id,
        error_class="InvalidRequest",
        error_message="bad",
        attempts=[],
        finished_at=datetime.now(UTC),
    )


def test_the_writer_caps_the_stream_and_gives_it_the_ttl(client: redis.Redis) -> None:
    job_id = uuid.uuid4().hex
    writer = JobStreamWriter(client, KEYS, job_id, ttl_s=300, maxlen=100)
    for number in range(30):
        writer.append([_chunk(str(number))] * 10)

    key = KEYS.job_stream(job_id)
    assert client.xlen(key) < 300
    assert 0 < client.ttl(key) <= 300


def test_entries_decode_to_chunks_and_resets_in_order(client: redis.Redis) -> None:
    job_id = uuid.uuid4().hex
    writer = JobStreamWriter(client, KEYS, job_id, ttl_s=60, maxlen=1000)
    writer.append([_chunk("a")])
    writer.reset("ServerError", "malformed")
    writer.append([{"id": "c", "choices": [], "usage": {"total_tokens": 3}}])

    entries = decode_entries(client.xread({KEYS.job_stream(job_id): "0-0"}))
    assert [entry.kind for entry in entries] == ["chunk", "reset", "chunk"]
    assert entries[1].data == {"error_class": "ServerError", "message": "malformed"}
    assert [is_usage_chunk(entry) for entry in entries] == [False, False, True]
    assert decode_entries([]) == []


def test_a_reader_ends_with_the_jobs_result_and_resumes_after_an_entry_id(
    client: redis.Redis,
) -> None:
    job_id = uuid.uuid4().hex
    store = JobStore(client, KEYS, 60)
    writer = JobStreamWriter(client, KEYS, job_id, ttl_s=60, maxlen=1000)
    writer.append([_chunk("a"), _chunk("b"), _chunk("c")])
    client.set(KEYS.result(job_id), _failed(job_id).model_dump_json())

    items = list(read_job_stream(client, store, job_id, timeout=5))
    assert isinstance(items[-1], StreamEnd) and isinstance(items[-1].result, FailedResult)
    entries = [item for item in items if isinstance(item, StreamEntry)]
    resumed = list(read_job_stream(client, store, job_id, after=entries[0].id, timeout=5))
    assert [item.id for item in resumed if isinstance(item, StreamEntry)] == [
        entry.id for entry in entries[1:]
    ]


def test_a_reader_whose_wait_runs_out_ends_without_a_result(client: redis.Redis) -> None:
    store = JobStore(client, KEYS, 60)

    items = list(read_job_stream(client, store, uuid.uuid4().hex, timeout=0.2))

    assert items == [StreamEnd(None)]


def test_the_clients_chunks_raise_stream_failed_naming_the_jobs_error(client: redis.Redis) -> None:
    job_id = uuid.uuid4().hex
    store = JobStore(client, KEYS, 60)
    JobStreamWriter(client, KEYS, job_id, ttl_s=60, maxlen=1000).append([_chunk("a")])
    client.set(KEYS.result(job_id), _failed(job_id).model_dump_json())

    chunks = client_chunks(client, store, job_id, after="0-0", timeout=5)
    assert next(chunks)["choices"][0]["delta"]["content"] == "a"
    with pytest.raises(StreamFailed, match="InvalidRequest: bad"):
        next(chunks)


def test_a_reset_before_the_first_chunk_goes_with_it_and_only_once(
    client: redis.Redis,
) -> None:
    # The next attempt decides whether what an earlier one left is continued or reset
    # (workers/stream_resume.py); a reset it asks for is written with its first chunk.
    job_id = uuid.uuid4().hex
    JobStreamWriter(client, KEYS, job_id, ttl_s=60, maxlen=1000).append([_chunk("lost")])
    again = JobStreamWriter(client, KEYS, job_id, ttl_s=60, maxlen=1000)
    again.reset_before_first("WorkerLost", "lost mid-call")
    again.append([_chunk("a")])
    again.append([_chunk("b")])

    entries = decode_entries(client.xread({KEYS.job_stream(job_id): "0-0"}))
    assert [entry.kind for entry in entries] == ["chunk", "reset", "chunk", "chunk"]
    assert entries[1].data["error_class"] == "WorkerLost"
    assert [entry.id for entry in again.entries()] == [entry.id for entry in entries]


def test_a_reset_before_the_first_chunk_of_an_attempt_that_appends_nothing_is_never_written(
    client: redis.Redis,
) -> None:
    job_id = uuid.uuid4().hex
    writer = JobStreamWriter(client, KEYS, job_id, ttl_s=60, maxlen=1000)
    writer.reset_before_first("ServerError", "cut")
    writer.append([])

    assert writer.entries() == []


def test_the_writer_sees_the_cancel_flag_of_its_job(client: redis.Redis) -> None:
    job_id = uuid.uuid4().hex
    writer = JobStreamWriter(client, KEYS, job_id, ttl_s=60, maxlen=1000)
    assert not writer.cancel_requested()

    client.set(KEYS.job_cancel(job_id), "1", ex=60)
    assert writer.cancel_requested()


def test_a_reader_looks_at_the_result_soon_after_the_usage_chunk_then_less_often() -> None:
    pace = ReadPace()
    usage = StreamEntry("2-0", "chunk", {"choices": [], "usage": {}})

    assert not pace.look_now([StreamEntry("1-0", "chunk", _chunk("a"))])
    assert pace.block_ms == 1000
    assert pace.look_now([usage]) and pace.block_ms == 10
    waits = [pace.block_ms for _ in range(8) if pace.look_now([])]
    assert waits == [20, 40, 80, 160, 320, 640, 1000, 1000]
