"""``Batches``: the one object callers use to submit, read, follow and cancel batches.

It ties the parts together: input lines are checked (``lines``) before ``CascadeClient``
enqueues their jobs, the record is written and read in Redis (``store``), followed
(``progress``), served as output files (``output``), and reported to webhooks.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import redis

from broker.batches.lines import (
    BATCH_ENDPOINT,
    input_error_from_submit,
    parse_batch_lines,
)
from broker.batches.opening import BatchIdTaken
from broker.batches.output import output_lines
from broker.batches.progress import batch_events, wait_for_batch
from broker.batches.records import BatchRecord, UnknownBatch, new_batch_id
from broker.batches.store import BatchStore
from broker.client import CascadeClient, IdConflict, SubmitError
from broker.ids import BATCH_ID_MAX, id_problem
from broker.webhooks import WebhookRegistry
from routing.offload import parse_window

__all__ = ["BatchIdTaken", "BatchIncomplete", "Batches"]


class BatchIncomplete(RuntimeError):
    """Redis failed part-way through enqueuing a batch. The batch exists (``validating``) and
    may have running jobs: cancel it (``cancelled`` says whether that was done already) or
    submit the same lines again under ``batch_id`` to enqueue the rest."""

    def __init__(self, batch_id: str, reason: str, *, cancelled: bool) -> None:
        then = "it was cancelled" if cancelled else "cancel it, or submit it again under its id"
        super().__init__(f"batch {batch_id} was only partly enqueued ({reason}); {then}")
        self.batch_id = batch_id
        self.cancelled = cancelled


class Batches:
    """Submit, read, wait for, subscribe to and cancel batches; built on a ``CascadeClient``."""

    def __init__(self, client: CascadeClient) -> None:
        self.client = client
        self.redis = client.redis
        self.keys = client.keys
        self.ttl_s = client.settings.result_ttl_s
        self.webhooks = WebhookRegistry(client.redis, client.keys, client.settings.result_ttl_s)
        self.store = BatchStore(client.redis, client.keys, client.settings.result_ttl_s)

    # --- submit ----------------------------------------------------------------------

    def submit_file(self, path: str | Path, **options: Any) -> BatchRecord:
        with Path(path).open(encoding="utf-8") as handle:
            return self.submit_lines(handle, **options)

    def submit(self, requests: Iterable[Mapping[str, Any]], **options: Any) -> BatchRecord:
        """Submit request objects shaped like the JSONL lines (``custom_id``, ``body``, ...)."""
        return self.submit_lines((json.dumps(dict(item)) for item in requests), **options)

    def submit_lines(
        self,
        lines: Iterable[str],
        *,
        tenant: str = "default",
        endpoint: str = BATCH_ENDPOINT,
        completion_window: str = "24h",
        metadata: Mapping[str, str] | None = None,
        input_file_id: str | None = None,
        default_tier: str | None = None,
        webhook_url: str | None = None,
        batch_id: str | None = None,
        cancel_if_incomplete: bool = False,
        priority: str | None = None,
    ) -> BatchRecord:
        """Check every line, write the batch record, then enqueue every job.

        Raises BatchInputError (nothing written) naming the bad lines, BatchIdTaken (nothing
        written) for another tenant's batch id. A Redis error part-way raises BatchIncomplete:
        the batch is then ``validating``, its tenant sees it and can cancel it, and the same
        lines submitted again under its id enqueue exactly the jobs that are missing. With
        ``cancel_if_incomplete`` (the HTTP API, whose callers cannot choose the id to retry
        with) the incomplete batch is cancelled at once, when Redis allows it.
        """
        if (problem := id_problem(tenant)) is not None:
            raise ValueError(f"tenant: {problem}")
        if batch_id is not None and (problem := id_problem(batch_id, BATCH_ID_MAX)) is not None:
            raise ValueError(f"batch_id: {problem}")
        if webhook_url:
            self.webhooks.check_url(webhook_url)
        batch_id = batch_id or new_batch_id()
        parsed = parse_batch_lines(
            lines,
            self.client.catalog,
            batch_id=batch_id,
            tenant=tenant,
            endpoint=endpoint,
            default_tier=default_tier,
            priority=priority or (metadata or {}).get("priority", "bulk"),
        )
        try:
            planned = self.client.plan_many(
                [line.job for line in parsed], new_batches=frozenset({batch_id})
            )
        except IdConflict as exc:
            # The lines' job ids are made of the batch id: it is the batch id that is taken.
            raise BatchIdTaken(batch_id, tenant_holds=False) from exc
        except SubmitError as exc:
            raise input_error_from_submit(exc, parsed) from exc
        self.store.open(
            batch_id,
            parsed,
            tenant=tenant,
            endpoint=endpoint,
            completion_window=completion_window,
            metadata=metadata,
            input_file_id=input_file_id,
        )
        try:
            self.client.enqueue(planned, completion_window=_window(completion_window))
            self.store.mark_enqueued(batch_id)
        except (redis.RedisError, SubmitError) as exc:
            raise self._incomplete(batch_id, tenant, exc, cancel=cancel_if_incomplete) from exc
        if webhook_url:
            self.webhooks.watch(f"batch:{batch_id}", webhook_url, tenant)
        return self.get(batch_id)

    def _incomplete(
        self, batch_id: str, tenant: str, cause: Exception, *, cancel: bool
    ) -> BatchIncomplete:
        if cancel:
            try:
                self.cancel(batch_id, tenant=tenant)
            except redis.RedisError:
                cancel = False
        return BatchIncomplete(batch_id, str(cause), cancelled=cancel)

    # --- read ------------------------------------------------------------------------

    def get(self, batch_id: str, *, tenant: str | None = None, exact: bool = True) -> BatchRecord:
        """The batch record (see ``BatchStore.get``); another tenant's is UnknownBatch."""
        return self.store.get(batch_id, tenant=tenant, exact=exact)

    def list_batches(
        self, tenant: str, *, after: str | None = None, limit: int = 20
    ) -> tuple[list[BatchRecord], bool]:
        """A tenant's batches, newest first, after the batch ``after``; and whether more exist."""
        return self.store.list_batches(tenant, after=after, limit=limit)

    def job_ids(self, batch_id: str) -> list[str]:
        return self.store.job_ids(batch_id)

    def finished_jobs(self, batch_id: str) -> dict[str, str]:
        """Job id -> final status, for every job of the batch that has ended."""
        return self.store.finished_jobs(batch_id)

    def output(self, batch_id: str, *, errors: bool = False) -> Iterator[dict[str, Any]]:
        """The lines of the output file (successes) or the errors file, in submission order."""
        return output_lines(
            self.store.output_pages(batch_id), self.client.store.results, errors=errors
        )

    def output_jsonl(self, batch_id: str, *, errors: bool = False) -> str:
        return "".join(json.dumps(line) + "\n" for line in self.output(batch_id, errors=errors))

    # --- wait and subscribe ------------------------------------------------------------

    def wait(
        self,
        batch_id: str,
        timeout: float,
        on_progress: Callable[[BatchRecord], None] | None = None,
    ) -> BatchRecord:
        """Until the batch ends or ``timeout`` passes; returns the record either way."""
        return wait_for_batch(self.store, batch_id, timeout, on_progress)

    def events(self, batch_id: str, timeout: float) -> Iterator[dict[str, Any]]:
        """Each job of the batch as it ends (those already ended first), then the batch record."""
        return batch_events(self.store, batch_id, timeout)

    # --- webhooks --------------------------------------------------------------------

    def webhook_payload(self, subject: str) -> tuple[str, dict[str, Any]] | None:
        """What a webhook for ``job:<id>`` or ``batch:<id>`` sends, once that has ended."""
        kind, _, subject_id = subject.partition(":")
        if kind == "job":
            result = self.client.store.result(subject_id)
            if result is None:
                return None
            body = {
                "type": "job.completed",
                "job_id": subject_id,
                "status": result.status.value,
                "result": result.model_dump(mode="json"),
            }
            return "job.completed", body
        try:
            record = self.get(subject_id, exact=False)
        except UnknownBatch:
            return None
        if not record.done:
            return None
        event = f"batch.{record.status.value}"
        return event, {"type": event, "batch": record.to_openai()}

    # --- cancel ----------------------------------------------------------------------

    def cancel(self, batch_id: str, *, tenant: str | None = None) -> BatchRecord:
        """End every unfinished job of the batch as cancelled; finished ones keep their result."""
        return self.store.cancel(batch_id, tenant=tenant)


def _window(text: str) -> timedelta | None:
    """The batch's completion window for the offload decision; one cascade cannot read (the
    batch API checks the field) just offloads nothing."""
    try:
        return parse_window(text)
    except ValueError:
        return None
