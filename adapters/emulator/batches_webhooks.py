"""The emulator's OpenAI batch webhooks: when a batch made with ``webhook_url`` and
``webhook_secret`` set (``POST /_emulator/batches``) ends, the emulator POSTs the event OpenAI
would (``batch.completed``, ``batch.failed``, ``batch.expired`` or ``batch.cancelled``, body
``{"id", "object": "event", "created_at", "type", "data": {"id": <batch id>}}``), signed per
Standard Webhooks as OpenAI signs it (``adapters/batch_api/webhooks.py``).

Batches run lazily (batches_engine.py), so each such batch has a watcher task that reads it
until it ends. A delivery answered with anything but 2xx, or not answered, is tried again
with the same ``webhook-id`` (signed afresh each time), as OpenAI retries, up to
``ATTEMPTS`` times; what was sent is listed by ``GET /_emulator/batches``.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx

from adapters.batch_api.webhooks import signed_headers
from adapters.emulator.batches_engine import BatchBook, EmulatedBatch, new_id

__all__ = ["ATTEMPTS", "BatchWebhooks"]

ATTEMPTS = 5
_FIRST_RETRY_S = 0.5
_READ_EVERY_S = 0.2  # how often a watcher reads its batch (a cancel ends it at the next read)
_EVENT = {"completed": "batch.completed", "expired": "batch.expired",
          "cancelled": "batch.cancelled"}


def event_body(batch: EmulatedBatch, now: float) -> dict[str, Any]:
    kind = "batch.failed" if batch.failure is not None else _EVENT[str(batch.ending)]
    return {"id": new_id("evt_", batch.id, kind), "object": "event", "created_at": int(now),
            "type": kind, "data": {"id": batch.id}}


class BatchWebhooks:
    """Watchers of one app's batches; the book's ``webhooks_sent`` keeps every delivery's
    last outcome."""

    def __init__(self, book: BatchBook) -> None:
        self.book = book
        self._tasks: set[asyncio.Task[None]] = set()

    def watch(self, batch: EmulatedBatch) -> None:
        """Send the batch's event when it ends, if it was made with a webhook to send to."""
        if batch.settings.webhook_url is None:
            return
        task = asyncio.get_running_loop().create_task(self._watch(batch))
        self._tasks.add(task)  # held, so that the loop does not drop it half-way
        task.add_done_callback(self._tasks.discard)

    async def _watch(self, batch: EmulatedBatch) -> None:
        while True:
            found = self.book.get(batch.id, batch.provider)
            if found is not batch:
                return  # the batches were reset
            if batch.ended_at is not None or batch.failure is not None:
                break
            wait = batch.end_time - self.book.state.clock()
            await asyncio.sleep(min(max(wait, 0.0), _READ_EVERY_S) or 0.01)
        await self._deliver(batch, event_body(batch, self.book.state.clock()))

    async def _deliver(self, batch: EmulatedBatch, event: dict[str, Any]) -> None:
        url, secret = batch.settings.webhook_url, batch.settings.webhook_secret
        assert url is not None and secret is not None  # BatchSettings holds both or neither
        body = json.dumps(event).encode()
        webhook_id = new_id("wh_", batch.id, event["type"])
        record: dict[str, Any] = {"batch_id": batch.id, "type": event["type"],
                                  "webhook_id": webhook_id, "attempts": 0, "status": None}
        self.book.webhooks_sent.append(record)
        async with httpx.AsyncClient(timeout=10) as client:
            for attempt in range(ATTEMPTS):
                record["attempts"] = attempt + 1
                headers = signed_headers(secret, webhook_id, int(self.book.state.clock()), body)
                try:
                    answer = await client.post(url, content=body, headers=headers)
                    record["status"] = answer.status_code
                    if 200 <= answer.status_code < 300:
                        return
                except httpx.HTTPError as exc:
                    record["status"] = f"{type(exc).__name__}"
                await asyncio.sleep(_FIRST_RETRY_S * 2**attempt)
