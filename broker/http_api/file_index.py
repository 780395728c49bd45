"""Each tenant's uploaded files in upload order, for ``GET /v1/files`` (OpenAI's files.list).

A file is a hash of its own (``Keys.file``); this index is a sorted set per tenant, written in
the same transaction as the file and read a page at a time, never whole.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, cast

import redis

from broker.keys import Keys

__all__ = ["FileIndex", "FilePage"]

Order = Literal["asc", "desc"]


@dataclass(frozen=True, slots=True)
class FilePage:
    fields: list[tuple[str, dict[str, str]]]
    has_more: bool


_FIELDS = ("tenant", "filename", "purpose", "bytes", "created_at")


class FileIndex:
    def __init__(self, client: redis.Redis, keys: Keys, ttl_s: int) -> None:
        self.client = client
        self.keys = keys
        self.ttl_s = ttl_s

    def add(self, pipe: redis.client.Pipeline, tenant: str, file_id: str, now: float) -> None:
        key = self.keys.tenant_files(tenant)
        pipe.zadd(key, {file_id: now})
        pipe.expire(key, self.ttl_s)

    def remove(self, tenant: str, file_id: str) -> None:
        self.client.zrem(self.keys.tenant_files(tenant), file_id)

    def page(
        self,
        tenant: str,
        *,
        after: str | None = None,
        limit: int = 20,
        order: Order = "desc",
        purpose: str | None = None,
    ) -> FilePage:
        """Up to ``limit`` files after ``after`` in ``order``, those of ``purpose`` only if
        given; an entry whose file expired is dropped from the index as it is met."""
        key = self.keys.tenant_files(tenant)
        rank_of = self.client.zrevrank if order == "desc" else self.client.zrank
        read: Callable[..., object] = (
            self.client.zrevrange if order == "desc" else self.client.zrange
        )
        rank = rank_of(key, after) if after is not None else None
        start = 0 if rank is None else int(cast(int, rank)) + 1
        found: list[tuple[str, dict[str, str]]] = []
        while len(found) <= limit:
            ids = [item.decode() for item in cast(list[bytes], read(key, start, start + limit))]
            if not ids:
                break
            start += len(ids)
            for file_id, fields in zip(ids, self._read(ids), strict=True):
                if fields.get("tenant") != tenant:
                    self.client.zrem(key, file_id)
                    start -= 1
                elif purpose is None or fields.get("purpose") == purpose:
                    found.append((file_id, fields))
        return FilePage(found[:limit], len(found) > limit)

    def _read(self, ids: list[str]) -> list[dict[str, str]]:
        pipe = self.client.pipeline(transaction=False)
        for file_id in ids:
            pipe.hmget(self.keys.file(file_id), list(_FIELDS))
        rows = cast(list[list[bytes | None]], pipe.execute())
        return [
            {name: value.decode() for name, value in zip(_FIELDS, row, strict=True) if value}
            for row in rows
        ]
