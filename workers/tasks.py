"""The Celery task that runs a job's hop: a thin shell around ``JobRunner``."""

from __future__ import annotations

import threading

import structlog
from celery import Celery, Task

from broker.celery_app import EXECUTE_TASK
from broker.settings import Settings
from workers.context import WorkerContext
from workers.runner import JobRunner

__all__ = ["register_tasks"]

log = structlog.get_logger("cascade.worker")


def register_tasks(app: Celery, settings: Settings) -> None:
    """Add the execute task to ``app``; its context is built on first use in each process."""
    holder: dict[str, WorkerContext] = {}
    lock = threading.Lock()

    def context() -> WorkerContext:
        with lock:
            if "context" not in holder:
                holder["context"] = WorkerContext.from_settings(settings)
            return holder["context"]

    def publish(job_id: str, hop: int, queue: str, countdown_s: float | None) -> None:
        app.send_task(
            EXECUTE_TASK, args=[job_id, hop], queue=queue, task_id=job_id, countdown=countdown_s
        )

    @app.task(name=EXECUTE_TASK, bind=True, ignore_result=True)
    def execute(self: Task[[str, int], None], job_id: str, hop: int) -> None:
        outcome = JobRunner(context(), publish, self.request.hostname or "worker").run(job_id, hop)
        log.info("delivery handled", job_id=job_id, hop=hop, outcome=outcome)
