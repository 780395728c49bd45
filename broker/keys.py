"""Every Redis key and channel name cascade uses, in one place.

All names start with the configured prefix (``cascade`` by default) so that several deployments
can share one Redis and an operator can find cascade's keys with one pattern. Celery's own keys
(queues named ``<tier>.<provider>``, ``unacked``, ``_kombu.*``) are Celery's and not listed here.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Keys"]


@dataclass(frozen=True, slots=True)
class Keys:
    prefix: str = "cascade"

    def job(self, job_id: str) -> str:
        """Hash: the job as submitted, its route, status, current hop, timestamps."""
        return f"{self.prefix}:job:{job_id}"

    def attempts(self, job_id: str) -> str:
        """List: one JSON record per provider call (or skipped target), in order."""
        return f"{self.prefix}:job:{job_id}:attempts"

    def result(self, job_id: str) -> str:
        """String: the final CompletionResult or FailedResult. Written once (SET NX)."""
        return f"{self.prefix}:job:{job_id}:result"

    def claim(self, job_id: str) -> str:
        """String with a TTL: the worker that is running the job right now."""
        return f"{self.prefix}:job:{job_id}:claim"

    def done_channel(self, job_id: str) -> str:
        """Pub/sub channel: the job's final status, published once when it ends."""
        return f"{self.prefix}:done:{job_id}"

    def events_channel(self) -> str:
        """Pub/sub channel: every job's status changes, for dashboards and subscribers."""
        return f"{self.prefix}:events"

    def batch(self, batch_id: str) -> str:
        """Hash: a batch's record and counters (total, succeeded, failed, ...)."""
        return f"{self.prefix}:batch:{batch_id}"

    def batch_jobs(self, batch_id: str) -> str:
        """List: the ids of a batch's jobs, in submission order."""
        return f"{self.prefix}:batch:{batch_id}:jobs"

    def batch_channel(self, batch_id: str) -> str:
        """Pub/sub channel: each of a batch's jobs as it ends."""
        return f"{self.prefix}:batch:{batch_id}:events"

    def dead_letters(self) -> str:
        """Sorted set: ids of failed jobs, scored by when they failed."""
        return f"{self.prefix}:dead"
