"""Which Celery pools a cascade worker may start (broker/worker_pool.py)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from celery.concurrency.prefork import TaskPool as PreforkPool
from celery.concurrency.thread import TaskPool as ThreadPool
from pydantic import ValidationError

from broker.settings import Settings
from broker.worker_pool import UnsafePoolError, pool_refusal, refuse_unsafe_pool


@pytest.mark.parametrize("pool", ["threads", "solo", "gevent", ThreadPool])
def test_pools_that_run_tasks_in_the_workers_own_process_are_allowed(pool: object) -> None:
    assert pool_refusal(pool) is None


@pytest.mark.parametrize("pool", ["prefork", "processes", PreforkPool, "custom"])
def test_pools_with_child_processes_or_unknown_ones_are_refused_with_the_reason(
    pool: object,
) -> None:
    refusal = pool_refusal(pool)
    assert refusal is not None and "child processes" in refusal and "threads" in refusal


def test_the_worker_init_check_stops_a_cascade_worker_and_leaves_other_apps_alone() -> None:
    cascade = SimpleNamespace(app=SimpleNamespace(main="cascade"), pool_cls=PreforkPool)
    with pytest.raises(UnsafePoolError, match="refuses the 'prefork' worker pool"):
        refuse_unsafe_pool(sender=cascade)
    refuse_unsafe_pool(
        sender=SimpleNamespace(app=SimpleNamespace(main="cascade"), pool_cls=ThreadPool)
    )
    refuse_unsafe_pool(
        sender=SimpleNamespace(app=SimpleNamespace(main="other"), pool_cls=PreforkPool)
    )


def test_settings_refuse_a_prefork_worker_pool_naming_the_field() -> None:
    with pytest.raises(ValidationError, match="worker_pool") as raised:
        Settings(worker_pool="prefork")
    assert "child processes" in str(raised.value)
