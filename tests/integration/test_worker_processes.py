"""Worker processes (issue 13): a pool whose children outlive their worker is refused however the
worker is started, and a threads worker killed with SIGKILL leaves nothing running behind it.

Real processes: ``celery -A workers.app worker`` and ``cascade worker`` on a Redis database of
this module's own, the emulator over HTTP for the SIGKILL test.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from broker.local_stack import LocalStack
from tests.integration.support import Emulator, client_for, stack_on_database, wait_for

pytestmark = pytest.mark.integration

CATALOG = str(Path(__file__).parents[1] / "fixtures" / "catalog.yaml")
PROMPT = {"messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 20}
REFUSAL = "cascade refuses the 'prefork' worker pool"


@pytest.fixture(scope="module")
def stack(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    logs = tmp_path_factory.mktemp("worker-process-logs")
    with stack_on_database(redis_url, 9, config=CATALOG, log_dir=logs) as stack:
        yield stack


def run_until_exit(
    command: list[str], env: dict[str, str], log: Path, timeout: float = 60
) -> int | None:
    """Run ``command`` in a session of its own; its exit code, or None if it was still running
    after ``timeout`` (then it is stopped, children and all)."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        return None


@pytest.mark.parametrize("alias", ["prefork", "processes"])
def test_celery_worker_against_cascades_app_refuses_prefork_before_it_starts(
    stack: LocalStack, tmp_path: Path, alias: str
) -> None:
    log = tmp_path / "celery.log"
    command = [sys.executable, "-m", "celery", "-A", "workers.app", "worker", "-P", alias]
    command += ["--concurrency", "2", "--queues", "fast.alpha", "--without-mingle"]

    code = run_until_exit(command, stack.env(), log)

    text = log.read_text(errors="replace")
    assert code is not None, f"the prefork worker started and kept running:\n{text[-2000:]}"
    assert code != 0
    assert REFUSAL in text
    assert "ready." not in text  # it never consumed a message


def test_cascade_worker_refuses_a_prefork_pool_from_the_environment(
    stack: LocalStack, tmp_path: Path
) -> None:
    log = tmp_path / "worker.log"
    env = {**stack.env(), "CASCADE_WORKER_POOL": "prefork"}
    command = [sys.executable, "-m", "broker", "worker", "--provider", "alpha"]

    code = run_until_exit(command, env, log)

    text = log.read_text(errors="replace")
    assert code not in (None, 0), text[-2000:]
    assert "worker_pool" in text and REFUSAL in text


def test_a_threads_worker_killed_with_sigkill_leaves_no_process_and_makes_no_call(
    stack: LocalStack, tmp_path: Path
) -> None:
    emulator = Emulator(stack.emulator_url)
    emulator.reset()
    emulator.latency(providers={"alpha": 2.0})
    worker = stack.start_worker("alpha", name="alpha-killed", concurrency=4)
    stack.wait_for_workers()
    try:
        with client_for(stack, CATALOG) as client:
            client.submit_many([{"needs": {"tier": "fast"}, "request": PROMPT}] * 12)
            wait_for(lambda: emulator.calls()["by_provider"].get("alpha", 0) >= 4, 30, "calls")
        # The main process only, as the OOM killer would: not its process group.
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=30)
        stack.workers.pop("alpha-killed")
        reached = emulator.calls()["by_provider"]["alpha"]
        time.sleep(3.0)  # longer than a call: a surviving pool child would have called again

        with pytest.raises(ProcessLookupError):
            os.killpg(worker.pid, 0)  # nothing of the worker's process group is left
        assert emulator.calls()["by_provider"]["alpha"] == reached
    finally:
        emulator.reset()


def test_a_ready_worker_runs_its_young_collections_at_the_raised_threshold(
    stack: LocalStack,
) -> None:
    """workers/gc_tuning.py, applied by the worker itself once Celery says it is ready: its
    log names the thresholds the collector runs with (CASCADE_WORKER_GC_THRESHOLD's default)."""
    stack.start_worker("alpha", name="alpha-collector", concurrency=2)
    stack.wait_for_workers()
    log = stack.log_path("worker-alpha-collector")
    wait_for(lambda: "collector tuned" in log.read_text(errors="replace"), 30, "the ready log")
    (line,) = [row for row in log.read_text().splitlines() if "collector tuned" in row]
    assert "50000" in line, line
