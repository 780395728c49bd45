"""The read side of ``CascadeClient``: a job's status and result, waiting for jobs to end, and
following a streamed job or pipeline as it runs.

Waiting subscribes to the jobs' own done channels before it reads the results already stored,
so no end is missed between the two (``wait_many``, ``broker/done_waits.py``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import Any

import redis

from broker.done_waits import done_channels, ended_job, subscribe_chunks
from broker.job_streams import client_chunks
from broker.jobs import CompletionResult, FailedResult, JobStatus
from broker.keys import Keys
from broker.settings import Settings
from broker.store import JobStore

__all__ = ["JobTimeout", "ReadMixin", "UnknownJob"]


class UnknownJob(LookupError):
    """No job with this id exists (never submitted, or its records expired)."""


class JobTimeout(TimeoutError):
    """The job did not finish within the time the caller was willing to wait."""


class ReadMixin:
    """``CascadeClient``'s read and wait methods; the client's constructor sets the attributes
    below."""

    settings: Settings
    redis: redis.Redis
    keys: Keys
    store: JobStore

    def status(self, job_id: str) -> JobStatus:
        found = self.store.status(job_id)
        if found is None:
            raise UnknownJob(job_id)
        return found

    def get(self, job_id: str) -> CompletionResult | FailedResult | None:
        """The final result, or None while the job is still queued or running."""
        result = self.store.result(job_id)
        if result is None and self.store.status(job_id) is None:
            raise UnknownJob(job_id)
        return result

    def wait(self, job_id: str, timeout: float) -> CompletionResult | FailedResult:
        """Block until the job ends, at most ``timeout`` seconds; raises JobTimeout."""
        found = self.wait_many([job_id], timeout)
        if job_id not in found:
            raise JobTimeout(f"job {job_id} did not finish within {timeout:g}s")
        return found[job_id]

    def stream(
        self, job_id: str, *, after: str = "0-0", timeout: float = 600.0
    ) -> Iterator[dict[str, Any]]:
        """A streamed job's chat.completion.chunk dicts as they come (``broker/job_streams.py``:
        ``cascade.reset`` markers, resuming ``after`` an entry id); raises StreamFailed."""
        if self.store.status(job_id) is None:
            raise UnknownJob(job_id)
        return client_chunks(self.redis, self.store, job_id, after=after, timeout=timeout)

    def stream_pipeline(
        self, pipeline_id: str, *, after: str = "", timeout: float = 600.0
    ) -> Iterator[dict[str, Any]]:
        """A streamed pipeline's answer as chat.completion.chunk dicts: its output step's rounds
        (``broker/pipelines/streaming.py``: a ``cascade.reset`` where a round was sent back,
        resuming ``after`` a ``cascade_event_id``); raises PipelineStreamFailed."""
        from broker.pipelines.state import PipelineStore  # loaded only by a client that streams one
        from broker.pipelines.streaming import parse_cursor, pipeline_chunks

        parse_cursor(after)  # a bad cursor is refused here, not at the first next()
        pipelines = PipelineStore(self.redis, self.keys, self.settings.result_ttl_s)
        if pipelines.load(pipeline_id) is None:
            raise UnknownJob(pipeline_id)
        return pipeline_chunks(pipelines, self.store, pipeline_id, after=after, timeout=timeout)

    def wait_many(
        self, job_ids: Sequence[str], timeout: float
    ) -> dict[str, CompletionResult | FailedResult]:
        """The results of the jobs that ended within ``timeout`` seconds.

        Subscribes to the jobs' done channels first, then reads the results already stored, so no
        end is missed between the two; then reads only the jobs whose channels announce an end.
        A periodic re-read covers events lost with a dropped connection, and a Redis that
        restarts (its results kept in its append-only file) is waited for, not reported as an
        error."""
        pending = set(job_ids)
        if unknown := sorted(pending - set(self.store.exists(job_ids))):
            raise UnknownJob(", ".join(unknown[:5]))
        done: dict[str, CompletionResult | FailedResult] = {}
        deadline = time.monotonic() + timeout
        while pending and time.monotonic() < deadline:
            try:
                self._wait_round(pending, done, deadline)
            except (redis.ConnectionError, redis.TimeoutError):
                time.sleep(max(0.0, min(0.5, deadline - time.monotonic())))
        return done

    def _wait_round(
        self,
        pending: set[str],
        done: dict[str, CompletionResult | FailedResult],
        deadline: float,
    ) -> None:
        pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        try:
            channels = done_channels(self.keys, pending)
            for chunk in subscribe_chunks(channels):
                pubsub.subscribe(*chunk)
            done.update(self.store.results(list(pending)))
            pending.difference_update(done)
            next_sweep = time.monotonic() + 1.0
            while pending and (left := deadline - time.monotonic()) > 0:
                ended = ended_job(pubsub.get_message(timeout=min(left, 0.5)), channels)
                if ended in pending:
                    done.update(self.store.results([ended]))
                if time.monotonic() >= next_sweep:
                    done.update(self.store.results(list(pending)))
                    next_sweep = time.monotonic() + 1.0
                pending.difference_update(done)
        finally:
            pubsub.close()

