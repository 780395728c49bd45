"""A pipeline through a Redis restart mid-pipeline: a private append-only redis-server, the
emulator and a ``cascade worker`` (with its pipeline driver), all real processes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from broker.local_stack import LocalStack, free_port
from broker.pipelines.facade import Pipelines
from broker.pipelines.records import PipelineStatus
from tests.integration.support import FAST_ENV, FIXTURE_CATALOG, Emulator, client_for, wait_for

pytestmark = pytest.mark.integration

CATALOG = str(FIXTURE_CATALOG)
CHAIN = {
    "steps": {
        "one": {"tier": "fast", "prompt": "one", "max_tokens": 20},
        "two": {"tier": "fast", "prompt": "two {{ steps.one.text }}", "max_tokens": 20},
        "three": {"tier": "fast", "prompt": "three {{ steps.two.text }}", "max_tokens": 20},
    }
}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    logs: Path = tmp_path_factory.mktemp("pipelines-restart-logs")
    with LocalStack(config=CATALOG, log_dir=logs, extra_env=FAST_ENV) as s:
        s.start_redis(appendonly=True, port=free_port())
        s.start_emulator()
        s.start_worker("alpha", concurrency=4)
        s.wait_for_workers()
        yield s


def test_a_redis_restart_mid_pipeline_loses_no_step_and_ends_it_once(stack: LocalStack) -> None:
    emulator = Emulator(stack.emulator_url or "")
    emulator.latency(providers={"alpha": 0.5})
    with client_for(stack, CATALOG) as client:
        pipelines = Pipelines(client)
        pid = pipelines.submit(CHAIN, {})
        wait_for(lambda: emulator.calls().get("by_provider", {}).get("alpha", 0) >= 1, 20)
        stack.restart_redis(down_s=1.0)
        # A Celery worker with a message in flight may exit when Redis goes away (kombu fails
        # to restore it while closing); a supervisor (compose's restart policy) starts another.
        if stack.workers["alpha"].poll() is not None:
            stack.start_worker("alpha", name="alpha-restarted", concurrency=4)
        result = pipelines.wait(pid, 90)
    assert result.status == PipelineStatus.SUCCEEDED, result.error
    assert [(run.step, run.round) for run in result.steps] == [
        ("one", 0),
        ("two", 0),
        ("three", 0),
    ]
    assert all(run.status == "succeeded" for run in result.steps)
