"""Which Celery pools a cascade worker may run: only those that keep every call in one process.

With the prefork pool, tasks run in child processes. SIGKILL of the worker's main process (the
OOM killer, ``kill -9``, a container runtime out of patience) does not reach them: a busy child
finishes its call and may start more, while its message, never acknowledged, is handed out
again to another worker. The job is then called twice at once, against the claim's promise. A
pool that runs its tasks in the main process (threads, solo, gevent) dies with it:
no call outlives a SIGKILL.

The check runs in every cascade worker whichever way it is started (``cascade worker``, or
``celery -A workers.app worker -P prefork``): ``create_celery`` connects ``refuse_unsafe_pool``
to Celery's ``worker_init`` signal, sent before the pool starts.
"""

from __future__ import annotations

from typing import Any

__all__ = ["SAFE_POOLS", "UnsafePoolError", "pool_refusal", "refuse_unsafe_pool"]

# The pools whose tasks run in the worker's own process, by their implementation's path, so
# that the check needs no pool's module imported (gevent may not be installed).
SAFE_POOLS = {
    "threads": "celery.concurrency.thread:TaskPool",
    "solo": "celery.concurrency.solo:TaskPool",
    "gevent": "celery.concurrency.gevent:TaskPool",
}
_PREFORK = "celery.concurrency.prefork:TaskPool"


class UnsafePoolError(SystemExit):
    """A worker asked for a pool that runs tasks in child processes.

    A ``SystemExit``: Celery logs and swallows any ``Exception`` a signal handler raises, and
    the worker must not start; the message is what the operator reads on stderr.
    """


def pool_refusal(pool: object) -> str | None:
    """Why ``pool`` (an alias such as ``prefork``, a ``module:Class`` path, or the pool class
    Celery's command line hands over) is refused; None if it is safe. Imports nothing."""
    if isinstance(pool, str):
        name, path = pool, SAFE_POOLS.get(pool, pool)
    else:
        path = f"{getattr(pool, '__module__', '?')}:{getattr(pool, '__qualname__', pool)}"
        name = "prefork" if path == _PREFORK else path
    if path in SAFE_POOLS.values():
        return None
    return (
        f"cascade refuses the {name!r} worker pool: it runs tasks in child processes, which "
        "keep calling providers when the worker's main process is killed (SIGKILL), while "
        "their messages are delivered again elsewhere. Use one of: "
        f"{', '.join(SAFE_POOLS)} (--pool threads, cascade worker's default)."
    )


def refuse_unsafe_pool(sender: Any = None, **_: Any) -> None:
    """Celery ``worker_init`` handler: stop a cascade worker about to start an unsafe pool."""
    if getattr(getattr(sender, "app", None), "main", None) != "cascade":
        return  # another application's worker in the same process: not cascade's to judge
    refusal = pool_refusal(getattr(sender, "pool_cls", None))
    if refusal is not None:
        raise UnsafePoolError(f"error: {refusal}")
