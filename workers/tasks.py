"""The Celery tasks that run a job's hop: a thin shell around ``JobRunner``.

The task is registered once per provider, as ``cascade.execute.<provider>.<wire format>``, so
that Flower names what runs; its arguments are only the job id and the hop.
"""

from __future__ import annotations

import threading
from typing import Any

import redis
import structlog
from celery import Celery, Task
from celery.exceptions import Ignore, Reject

from broker.catalog_file import load_catalog
from broker.celery_app import EXECUTE_TASK, task_argsrepr, task_name
from broker.jobs import TargetRef
from broker.settings import Settings
from workers.context import WorkerContext
from workers.runner import JobRunner, Taken
from workers.task_events import TaskEvents
from workers.telemetry import Telemetry

__all__ = ["register_tasks"]

log = structlog.get_logger("cascade.worker")


def register_tasks(app: Celery, settings: Settings, taken: Taken | None = None) -> None:
    """Add the execute task to ``app`` under every provider's name; its context is built on
    first use in each process. ``taken`` hears of each delivery that began, with its queue's
    length (the worker's dispatcher; none under prefork)."""
    catalog = load_catalog(settings.config, settings.profile, emulator_url=settings.emulator_url)
    wire_formats = {name: config.wire_format for name, config in catalog.providers.items()}
    holder: dict[str, WorkerContext] = {}
    lock = threading.Lock()
    task_events = TaskEvents(app, enabled=settings.task_events)

    def context() -> WorkerContext:
        with lock:
            if "context" not in holder:
                holder["context"] = WorkerContext.from_settings(settings)
            return holder["context"]

    def publish(job_id: str, hop: int, target: TargetRef, countdown_s: float | None) -> None:
        app.send_task(
            task_name(target.provider, wire_formats[target.provider]),
            args=[job_id, hop],
            queue=target.queue,
            task_id=job_id,
            countdown=countdown_s,
            argsrepr=task_argsrepr(job_id, hop, tier=target.tier, model=target.model),
        )

    def execute(self: Task[[str, int], str], job_id: str, hop: int) -> str:
        hostname = self.request.hostname or "worker"
        send = task_events.sender(job_id, hostname)
        runner = JobRunner(context(), publish, hostname, Telemetry(send), taken)
        queue = (self.request.delivery_info or {}).get("routing_key") or None
        tag = (getattr(self.request, "properties", None) or {}).get("delivery_tag")
        try:
            outcome = runner.run(job_id, hop, queue, tag)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            # Redis went away mid-delivery: hand the message back rather than lose it. If Redis
            # cannot take it back yet, it stays unacknowledged and returns after the
            # visibility timeout.
            log.warning("Redis unavailable; the message goes back to its queue", job_id=job_id)
            raise Reject(exc, requeue=True) from exc
        except Exception as exc:
            log.exception("the runner failed", job_id=job_id, hop=hop)
            outcome = runner.fail_internal(job_id, hop, exc)
        if outcome.kind != "succeeded":
            # A success has its line already ("job succeeded", with the job's context); a line
            # per delivery on top cost a twentieth of a millisecond for nothing new.
            log.info("delivery handled", job_id=job_id, hop=hop, outcome=outcome.detail)
            # The message is acknowledged all the same; Ignore keeps Celery from reporting
            # "succeeded" over the retry, reroute or failure events already sent to Flower.
            raise Ignore()
        # Flower shows this as the task's result: who answered, and the reroute chain before.
        return outcome.detail

    names = [EXECUTE_TASK]  # kept for messages queued under the old single name
    names += sorted({task_name(name, wire) for name, wire in wire_formats.items()})
    for name in names:
        options: dict[str, Any] = {"name": name, "bind": True, "ignore_result": True}
        app.task(**options)(execute)
