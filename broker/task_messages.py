"""The Celery messages of a job's first hop, built here as ``send_task`` would build them.

A producer writes these itself (``broker/job_writes.py``) so that a job's record and its message
are written by one script, and so that a thousand jobs cost one round trip, not a thousand. The
message waits in the scheduler beside the job until a dispatcher moves it onto its queue.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import uuid

from broker.celery_app import task_argsrepr, task_name
from broker.jobs import TargetRef
from routing.catalog import Catalog

__all__ = ["first_hop_message", "hop_message", "task_message"]


def first_hop_message(catalog: Catalog, job_id: str, target: TargetRef, reply_to: str) -> bytes:
    """The message that starts ``job_id`` on ``target``, its route's first hop."""
    return hop_message(catalog, job_id, 0, target, reply_to)


def hop_message(
    catalog: Catalog, job_id: str, hop: int, target: TargetRef, reply_to: str
) -> bytes:
    """The message that runs hop ``hop`` of ``job_id`` on ``target``."""
    wire_format = catalog.provider(target.provider).wire_format
    return task_message(
        task_name(target.provider, wire_format),
        job_id,
        hop,
        queue=target.queue,
        argsrepr=task_argsrepr(job_id, hop, tier=target.tier, model=target.model),
        reply_to=reply_to,
    )


# Celery's protocol 2 (docs.celeryq.dev, "Message Protocol"): [args, kwargs, embed] in the
# body; headers name the task; kombu's Redis transport wraps it in this JSON envelope.
_EMBED = {"callbacks": None, "errbacks": None, "chain": None, "chord": None}
_ORIGIN = f"gen{os.getpid()}@{socket.gethostname()}"


def task_message(
    task: str, job_id: str, hop: int, *, queue: str, argsrepr: str, reply_to: str
) -> bytes:
    """The message ``celery.send_task(task, args=[job_id, hop], task_id=job_id, queue=queue,
    argsrepr=argsrepr)`` puts on a Redis queue, built directly: same headers, same body."""
    body = json.dumps([[job_id, hop], {}, _EMBED]).encode()
    envelope = {
        "body": base64.b64encode(body).decode(),
        "content-encoding": "utf-8",
        "content-type": "application/json",
        "headers": {
            "lang": "py",
            "task": task,
            "id": job_id,
            "shadow": None,
            "eta": None,
            "expires": None,
            "group": None,
            "group_index": None,
            "retries": 0,
            "timelimit": [None, None],
            "root_id": job_id,
            "parent_id": None,
            "argsrepr": argsrepr,
            "kwargsrepr": "{}",
            "origin": _ORIGIN,
            "ignore_result": None,
            "replaced_task_nesting": 0,
            "stamped_headers": None,
            "stamps": {},
        },
        "properties": {
            "correlation_id": job_id,
            "reply_to": reply_to,
            "argsrepr": argsrepr,
            "delivery_mode": 2,
            "delivery_info": {"exchange": "", "routing_key": queue},
            "priority": 0,
            "body_encoding": "base64",
            "delivery_tag": str(uuid.uuid4()),
        },
    }
    return json.dumps(envelope).encode()
