"""The Celery application that producers send through and workers consume from.

Producers send the execute task by name, so they never import the workers' code. Every setting
below is one that cascade's delivery guarantees depend on; each says why.
"""

from __future__ import annotations

from celery import Celery, signals

from broker.keys import CELERY_UNACKED, CELERY_UNACKED_INDEX
from broker.settings import Settings
from broker.worker_pool import refuse_unsafe_pool

__all__ = ["EXECUTE_TASK", "create_celery", "task_argsrepr", "task_name"]

EXECUTE_TASK = "cascade.execute"


def task_name(provider: str, wire_format: str) -> str:
    """The execute task's name for one provider, as Flower shows it:
    ``cascade.execute.anthropic.anthropic``."""
    return f"{EXECUTE_TASK}.{provider}.{wire_format}"


def task_argsrepr(job_id: str, hop: int, *, tier: str, model: str) -> str:
    """What Flower shows as a message's arguments: the job and where it is on its route, never
    the prompt (the message carries only the job id and the hop)."""
    return f"(job_id={job_id!r}, hop={hop}, tier={tier!r}, model={model!r})"


def create_celery(settings: Settings) -> Celery:
    app = Celery("cascade", broker=settings.redis_url, set_as_current=False)
    # A worker of this app, however started, refuses a pool whose children would outlive a
    # SIGKILL of its main process (broker/worker_pool.py). Connected once per process.
    signals.worker_init.connect(
        refuse_unsafe_pool, weak=False, dispatch_uid="cascade.refuse_unsafe_pool"
    )
    transport_options = {
        # Unacknowledged messages come back after this long; see Settings.visibility_timeout_s.
        "visibility_timeout": settings.visibility_timeout_s,
        # How often a worker sweeps for messages a dead worker left unacknowledged.
        "unacked_restore_interval": settings.restore_interval_s,
        "unacked_restore_throttle": 1,
        # Named here because a success's last round trip acknowledges its message with a script
        # of its own (workers/message_acks.py), which must write the same records.
        "unacked_key": CELERY_UNACKED,
        "unacked_index_key": CELERY_UNACKED_INDEX,
        "health_check_interval": 25,
        "socket_keepalive": True,
    }
    app.conf.update(
        broker_transport_options=transport_options,
        broker_connection_retry_on_startup=True,
        broker_pool_limit=None,
        # cascade keeps its own results in the job store; Celery's result backend stays unused.
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        # Acknowledge after the task ran, and give a message back when its worker dies mid-call:
        # together with the job store's idempotent finish this is at-least-once with one result.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_acks_on_failure_or_timeout=True,
        # One message at a time per slot: a slow provider must not hoard queued jobs.
        worker_prefetch_multiplier=1,
        # A lost broker connection cancels running tasks so they are redelivered, not orphaned.
        worker_cancel_long_running_tasks_on_connection_loss=True,
        # On SIGTERM a worker lets running calls finish for this long, then shuts down cold and
        # gives back the messages it still holds (retries waiting for their countdown too, with
        # the idle option): a deploy re-queues them at once instead of after the visibility
        # timeout.
        worker_soft_shutdown_timeout=settings.soft_shutdown_s,
        worker_enable_soft_shutdown_on_idle=True,
        task_create_missing_queues=True,
        worker_send_task_events=settings.task_events,
        task_send_sent_event=False,
        worker_hijack_root_logger=False,
        enable_utc=True,
    )
    return app
