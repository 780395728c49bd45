"""Batch records in Redis: writing a new batch, reading its record and jobs, cancelling it.

A batch is a hash (id, tenant, endpoint, timestamps, ``total``, ``enqueuing`` until every job
is queued, and the ``succeeded``, ``failed`` and ``cancelled`` counters that the workers'
finish script and the cancel script increment), two lists in submission order (job ids, custom
ids) and an entry in its tenant's sorted set. Lists are read in pipelined pages, never one round
trip per job; the tenant's set is read a page at a time.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import cast

import redis

from broker.batches.cancel import CANCEL_SCRIPT, cancel_call
from broker.batches.lines import BatchLine
from broker.batches.opening import OPEN_SCRIPT, BatchIdTaken, open_call
from broker.batches.records import (
    BatchCounts,
    BatchRecord,
    BatchStatus,
    UnknownBatch,
    batch_status,
)
from broker.ids import BATCH_ID_MAX, is_valid_id
from broker.jobs import JobStatus
from broker.keys import Keys

__all__ = ["BatchStore"]

# One pipelined page of the output lists, and the jobs one cancel script call ends.
_PAGE = 1000
# Job ids read (and written) per LRANGE (RPUSH).
_LIST_CHUNK = 10 * _PAGE
_EXACT_LIMIT = 10_000
_FINAL = frozenset({JobStatus.SUCCEEDED.value, JobStatus.FAILED.value})
_END_STAMP = {BatchStatus.COMPLETED: "completed_at", BatchStatus.CANCELLED: "cancelled_at"}


class BatchStore:
    """Reads and writes batch records, their job lists and their cancel in Redis."""

    def __init__(self, client: redis.Redis, keys: Keys, ttl_s: int) -> None:
        self.redis = client
        self.keys = keys
        self.ttl_s = ttl_s
        self._cancel = client.register_script(CANCEL_SCRIPT)
        self._open = client.register_script(OPEN_SCRIPT)

    def open(
        self,
        batch_id: str,
        lines: Sequence[BatchLine],
        *,
        tenant: str,
        endpoint: str,
        completion_window: str,
        metadata: Mapping[str, str] | None,
        input_file_id: str | None,
    ) -> bool:
        """Write the record of a batch about to be enqueued, or find the tenant's own again.

        One script (``OPEN_SCRIPT``): the record, marked as still enqueuing, its job and custom
        id lists and its entry in the tenant's set, all or nothing. True when it was created,
        False when the tenant's batch of that id and size exists (a retried submit). Raises
        BatchIdTaken when the id is another tenant's, or the tenant's with another size.
        """
        now = time.time()
        fields = {
            "id": batch_id,
            "tenant": tenant,
            "endpoint": endpoint,
            "input_file_id": input_file_id or "",
            "completion_window": completion_window,
            "metadata": json.dumps(dict(metadata or {})),
            "total": str(len(lines)),
            "created_at": str(int(now)),
            "enqueuing": "1",
        }
        keys, args = open_call(
            self.keys,
            batch_id,
            tenant,
            fields,
            job_ids=[line.job.id for line in lines],
            custom_ids=[line.custom_id for line in lines],
            now=now,
            ttl_s=self.ttl_s,
        )
        verdict = _text(self._open(keys=keys, args=args))
        if verdict in ("taken", "resized"):
            raise BatchIdTaken(batch_id, tenant_holds=verdict == "resized")
        return verdict == "created"

    def mark_enqueued(self, batch_id: str) -> None:
        """Every job of the batch is queued: it is in progress from now on."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.hdel(self.keys.batch(batch_id), "enqueuing")
        pipe.hsetnx(self.keys.batch(batch_id), "in_progress_at", str(int(time.time())))
        pipe.execute()

    def get(self, batch_id: str, *, tenant: str | None = None, exact: bool = True) -> BatchRecord:
        """The batch record; with ``tenant``, another tenant's batch is UnknownBatch.

        ``exact`` splits unfinished jobs into queued and running by reading their statuses
        (pipelined, batches of up to 10,000 jobs); otherwise every unfinished job counts as
        queued.
        """
        if not is_valid_id(batch_id, BATCH_ID_MAX):
            raise UnknownBatch(batch_id)
        raw = self.redis.hgetall(self.keys.batch(batch_id))
        fields = {_text(key): _text(value) for key, value in raw.items()}
        if "total" not in fields or (tenant is not None and fields["tenant"] != tenant):
            raise UnknownBatch(batch_id)
        counts = BatchCounts(
            total=int(fields["total"]),
            succeeded=int(fields.get("succeeded", 0)),
            failed=int(fields.get("failed", 0)),
            cancelled=int(fields.get("cancelled", 0)),
        )
        unfinished = max(counts.total - counts.finished, 0)
        # Reading every status costs one pipelined HGET per job: above _EXACT_LIMIT jobs a
        # record is read without it, and running jobs count as queued.
        exact = exact and counts.total <= _EXACT_LIMIT
        running = self._running(batch_id) if exact and unfinished else 0
        counts.running = min(running, unfinished)
        counts.queued = unfinished - counts.running
        status = batch_status(
            counts, cancel_requested="cancelling_at" in fields, enqueuing="enqueuing" in fields
        )
        fields.update(self._stamp_end(batch_id, status, fields))
        return BatchRecord(
            id=batch_id,
            tenant=fields["tenant"],
            endpoint=fields["endpoint"],
            input_file_id=fields.get("input_file_id") or None,
            completion_window=fields.get("completion_window", "24h"),
            status=status,
            counts=counts,
            created_at=int(fields["created_at"]),
            in_progress_at=_optional_int(fields, "in_progress_at"),
            completed_at=_optional_int(fields, "completed_at"),
            cancelling_at=_optional_int(fields, "cancelling_at"),
            cancelled_at=_optional_int(fields, "cancelled_at"),
            metadata=json.loads(fields.get("metadata", "{}")) or None,
        )

    def _stamp_end(
        self, batch_id: str, status: BatchStatus, fields: dict[str, str]
    ) -> dict[str, str]:
        """Record when the batch was first seen to end (HSETNX: the first reader's time stays)."""
        name = _END_STAMP.get(status)
        if name is None or name in fields:
            return {}
        now = str(int(time.time()))
        self.redis.hsetnx(self.keys.batch(batch_id), name, now)
        return {name: _text(self.redis.hget(self.keys.batch(batch_id), name)) or now}

    def list_batches(
        self, tenant: str, *, after: str | None = None, limit: int = 20
    ) -> tuple[list[BatchRecord], bool]:
        """A tenant's batches, newest first, after the batch ``after``; and whether more exist.

        Reads the tenant's set a page at a time from ``after``'s rank, never whole; an entry
        whose batch has expired is dropped from the set as it is met.
        """
        key = self.keys.tenant_batches(tenant)
        rank = self.redis.zrevrank(key, after) if after is not None else None
        start = 0 if rank is None else int(cast(int, rank)) + 1
        records: list[BatchRecord] = []
        while len(records) <= limit:
            page = cast(list[bytes], self.redis.zrevrange(key, start, start + limit))
            if not page:
                break
            start += len(page)
            for batch_id in (_text(item) for item in page):
                try:
                    records.append(self.get(batch_id, tenant=tenant, exact=False))
                except UnknownBatch:
                    self.redis.zrem(key, batch_id)
                    start -= 1
        return records[:limit], len(records) > limit

    def job_ids(self, batch_id: str) -> list[str]:
        return [_text(item) for item in self.redis.lrange(self.keys.batch_jobs(batch_id), 0, -1)]

    def finished_jobs(self, batch_id: str) -> dict[str, str]:
        """Job id -> final status, for every job of the batch that has ended."""
        return {
            job_id: status
            for job_id, status in self._job_statuses(batch_id)
            if status is not None and status in _FINAL
        }

    def output_pages(self, batch_id: str) -> Iterator[list[tuple[str, str]]]:
        """(job id, custom id) pairs in submission order, one pipelined page at a time."""
        jobs_key, ids_key = self.keys.batch_jobs(batch_id), self.keys.batch_custom_ids(batch_id)
        start = 0
        while True:
            pipe = self.redis.pipeline(transaction=False)
            pipe.lrange(jobs_key, start, start + _PAGE - 1)
            pipe.lrange(ids_key, start, start + _PAGE - 1)
            job_ids, custom_ids = pipe.execute()
            if not job_ids:
                return
            ids = [_text(item) for item in job_ids]
            yield [
                (job_id, _text(custom_id))
                for job_id, custom_id in zip(ids, custom_ids, strict=True)
            ]
            start += len(ids)

    def cancel(self, batch_id: str, *, tenant: str | None = None) -> BatchRecord:
        """End every unfinished job of the batch as cancelled; finished ones keep their result."""
        self.get(batch_id, tenant=tenant, exact=False)
        self.redis.hsetnx(self.keys.batch(batch_id), "cancelling_at", str(int(time.time())))
        record = self.get(batch_id, exact=False)
        now = datetime.now(UTC)
        for chunk in self._job_id_chunks(batch_id):
            for start in range(0, len(chunk), _PAGE):
                page = chunk[start : start + _PAGE]
                keys, args = cancel_call(self.keys, self.ttl_s, batch_id, record.tenant, page, now)
                self._cancel(keys=keys, args=args)
        return self.get(batch_id)

    def _running(self, batch_id: str) -> int:
        return sum(1 for _, status in self._job_statuses(batch_id) if status == "running")

    def _job_statuses(self, batch_id: str) -> Iterator[tuple[str, str | None]]:
        """Each job's status (None once its hash expired), one pipelined HGET per job."""
        for chunk in self._job_id_chunks(batch_id):
            pipe = self.redis.pipeline(transaction=False)
            for job_id in chunk:
                pipe.hget(self.keys.job(job_id), "status")
            for job_id, status in zip(chunk, pipe.execute(), strict=True):
                yield job_id, None if status is None else _text(status)

    def _job_id_chunks(self, batch_id: str) -> Iterator[list[str]]:
        key = self.keys.batch_jobs(batch_id)
        start = 0
        while chunk := self.redis.lrange(key, start, start + _LIST_CHUNK - 1):
            yield [_text(item) for item in chunk]
            start += len(chunk)


def _optional_int(fields: Mapping[str, str], name: str) -> int | None:
    value = fields.get(name)
    return None if value is None else int(float(value))


def _text(value: bytes | str | None) -> str:
    if value is None:
        return ""
    return value.decode() if isinstance(value, bytes) else value
