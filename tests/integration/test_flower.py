"""Flower against a real worker: a job shows under its id, with a name that says which provider
and wire format ran it, and arguments that show the job but not its prompt.

Needs the worker side to name tasks with ``broker.flower.task_name`` and to send
``argsrepr=broker.flower.task_argsrepr(...)`` (workers/tasks.py, broker/task_messages.py)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from broker.catalog_file import load_catalog
from broker.celery_app import task_name
from broker.client import CascadeClient
from broker.jobs import CompletionResult
from broker.local_stack import LocalStack, free_port
from broker.settings import Settings
from tests.integration.support import FAST_ENV, Emulator, wait_for

pytestmark = pytest.mark.integration

CATALOG = str(Path(__file__).parents[1] / "fixtures" / "catalog.yaml")
AUTH = ("ops", "flower-test-password")
SECRET_PROMPT = "flower must never show MANGO-4471-QUARTZ"


@pytest.fixture(scope="module")
def stack(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    # A private database index: no other module's workers or messages share it.
    private = redis_url.rsplit("/", 1)[0] + "/8"
    redis.Redis.from_url(private).flushdb()
    logs = tmp_path_factory.mktemp("flower-logs")
    with LocalStack(config=CATALOG, redis_url=private, log_dir=logs, extra_env=FAST_ENV) as s:
        s.start_redis()
        s.start_emulator()
        s.start_worker("alpha", concurrency=4)
        s.start_worker("beta", concurrency=4)
        s.wait_for_workers()
        yield s
    redis.Redis.from_url(private).flushdb()


@pytest.fixture(scope="module")
def flower_url(stack: LocalStack) -> Iterator[str]:
    port = free_port()
    env = {**stack.env(), "CASCADE_FLOWER_BASIC_AUTH": f"{AUTH[0]}:{AUTH[1]}"}
    log = stack.log_path("flower").open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "broker", "flower", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        # Ready once Flower answers and has heard from the worker (so it receives its events).
        wait_for(lambda: "alpha@" in _get(f"{url}/api/workers?refresh=1", default="{}"), 60)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait(timeout=10)
        log.close()


@pytest.fixture()
def client(stack: LocalStack) -> Iterator[CascadeClient]:
    settings = Settings(redis_url=stack.redis_url, config=CATALOG, profile="emulated")
    catalog = load_catalog(CATALOG, "emulated", emulator_url=stack.emulator_url)
    client = CascadeClient(settings, catalog)
    yield client
    client.close()


def test_flower_shows_a_job_by_its_id_with_provider_wire_format_tier_and_model(
    flower_url: str, client: CascadeClient
) -> None:
    job_id = client.submit(
        {"messages": [{"role": "user", "content": SECRET_PROMPT}], "max_tokens": 20}, tier="fast"
    )
    assert isinstance(client.wait(job_id, timeout=30), CompletionResult)

    info: dict[str, Any] = {}

    def task_succeeded() -> bool:
        response = httpx.get(f"{flower_url}/api/task/info/{job_id}", auth=AUTH, timeout=5)
        if response.status_code != 200:
            return False
        info.update(response.json())
        return info.get("state") == "SUCCESS" and bool(info.get("name"))

    wait_for(task_succeeded, 30)
    assert info["uuid"] == job_id
    assert info["name"] == task_name("alpha", "openai") == "cascade.execute.alpha.openai"
    assert f"job_id={job_id!r}" in info["args"]
    assert "tier='fast'" in info["args"] and "model='a1'" in info["args"]
    assert "MANGO" not in str(info)


def test_flower_shows_a_rerouted_jobs_chain_and_not_an_earlier_hops_exception_once_answered(
    flower_url: str, client: CascadeClient, stack: LocalStack
) -> None:
    emulator = Emulator(stack.emulator_url)
    emulator.faults({"provider": "alpha", "model": "*", "kind": "status", "status": 503})
    try:
        job_id = client.submit({"messages": [{"role": "user", "content": "hi"}]}, tier="fast")
        result = client.wait(job_id, timeout=30)
    finally:
        emulator.reset()
    assert isinstance(result, CompletionResult) and result.provider == "beta"

    info: dict[str, Any] = {}

    def task_succeeded() -> bool:
        response = httpx.get(f"{flower_url}/api/task/info/{job_id}", auth=AUTH, timeout=5)
        info.update(response.json() if response.status_code == 200 else {})
        return info.get("state") == "SUCCESS"

    wait_for(task_succeeded, 30)
    # alpha's retries left "Overloaded (HTTP 503)" as the task's exception; answered, it is gone
    assert info["exception"] is None and info["traceback"] is None
    assert "succeeded: answered by beta/b1 (fast.beta) at hop 1" in info["result"]
    assert (
        "hop 0 alpha/a1 (fast.alpha) -> hop 1 beta/b1 (fast.beta): Overloaded (HTTP 503)"
        in (info["result"])
    )


def test_flower_lists_every_queue_of_the_worker_with_its_length(flower_url: str) -> None:
    response = httpx.get(f"{flower_url}/api/queues/length", auth=AUTH, timeout=10)
    response.raise_for_status()
    names = {queue["name"] for queue in response.json()["active_queues"]}
    # alpha serves only tier fast in the test catalog.
    assert "fast.alpha" in names


def test_flower_refuses_its_api_without_the_basic_auth_credentials(flower_url: str) -> None:
    assert httpx.get(f"{flower_url}/api/tasks", timeout=5).status_code == 401
    assert httpx.get(f"{flower_url}/api/tasks", auth=("ops", "wrong"), timeout=5).status_code == 401


def _get(url: str, default: str) -> str:
    try:
        response = httpx.get(url, auth=AUTH, timeout=5)
    except httpx.HTTPError:
        return default
    return response.text if response.status_code == 200 else default


def test_a_burst_of_jobs_reaches_flower_with_every_tasks_events_in_fewer_messages(
    flower_url: str, client: CascadeClient, stack: LocalStack
) -> None:
    """workers/event_batches.py: the workers' task events for Flower go out in batches, one
    ``task.multi`` message per batch, each task's received, started and succeeded among them,
    and Flower shows every job of the burst as succeeded."""
    assert stack.redis_url is not None
    listener = redis.Redis.from_url(stack.redis_url).pubsub()
    listener.psubscribe("*celeryev/task.multi")
    try:
        ids = client.submit_many(
            [
                {
                    "needs": {"tier": "fast"},
                    "request": {"messages": [{"role": "user", "content": "hi"}]},
                }
            ]
            * 12
        )
        for job_id in ids:
            assert isinstance(client.wait(job_id, timeout=60), CompletionResult)
        seen: dict[str, set[str]] = {job_id: set() for job_id in ids}
        messages = 0

        def every_event_heard() -> bool:
            nonlocal messages
            while (message := listener.get_message(timeout=0.1)) is not None:
                if message["type"] != "pmessage":
                    continue
                messages += 1
                envelope = json.loads(message["data"])
                for event in json.loads(base64.b64decode(envelope["body"])):
                    if event.get("uuid") in seen:
                        seen[event["uuid"]].add(event["type"])
            return all(
                {"task-received", "task-started", "task-succeeded"} <= s for s in seen.values()
            )

        wait_for(every_event_heard, 30)
        # One message per batch: fewer than one per job (a flush per event sent 16 here).
        assert messages < len(ids), messages

        def all_succeeded() -> bool:
            states = [
                httpx.get(f"{flower_url}/api/task/info/{job_id}", auth=AUTH, timeout=5)
                for job_id in ids
            ]
            return all(r.status_code == 200 and r.json().get("state") == "SUCCESS" for r in states)

        wait_for(all_succeeded, 30)
    finally:
        listener.close()
