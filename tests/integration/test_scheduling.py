"""The scheduler end to end: real ``cascade worker`` processes (whose dispatch threads top the
Celery queue up), a private Redis and the emulator answering in 0.2 s. One worker of 16 threads
serves alpha, so a backlog drains at about 80 jobs a second and stays a backlog for the length
of each test."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from broker.batches import Batches
from broker.client import CascadeClient
from broker.jobs import CompletionResult, FailedResult
from broker.local_stack import LocalStack
from routing.latency import LatencyBook
from tests.integration.support import FAST_ENV, Emulator, client_for, fresh_emulator

pytestmark = pytest.mark.integration

CATALOG = str(Path(__file__).parents[1] / "fixtures" / "catalog.yaml")
PROMPT = {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 20}
LATENCY_S = 0.2
LINE = {"method": "POST", "url": "/v1/chat/completions", "body": {"model": "fast", **PROMPT}}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    env = {**FAST_ENV, "CASCADE_TENANT_WEIGHTS": json.dumps({"heavy": 3})}
    logs = tmp_path_factory.mktemp("sched-logs")
    with LocalStack(config=CATALOG, log_dir=logs, extra_env=env) as s:
        s.start_redis()  # a private server: no other module's workers take these queues
        s.start_emulator(latency_s=LATENCY_S)
        s.start_worker("alpha", concurrency=16)
        s.wait_for_workers()
        yield s


@pytest.fixture()
def emulator(stack: LocalStack) -> Iterator[Emulator]:
    with fresh_emulator(stack) as control:
        yield control


@pytest.fixture()
def client(stack: LocalStack) -> Iterator[CascadeClient]:
    with client_for(stack, CATALOG) as client:
        yield client


def jobs(prefix: str, count: int, *, tenant: str, priority: str) -> list[dict[str, object]]:
    envelope = {"tenant": tenant, "priority": priority}
    return [
        {
            "needs": {"tier": "fast"},
            "request": PROMPT,
            "envelope": {"id": f"{prefix}{i}", **envelope},
        }
        for i in range(count)
    ]


def backlog(client: CascadeClient, batch_id: str, lines: int, tenant: str) -> Batches:
    """A batch (so bulk) of ``lines`` jobs; the caller cancels what is left of it."""
    batches = Batches(client)
    requests = [{**LINE, "custom_id": f"r{i}"} for i in range(lines)]
    batches.submit(requests, batch_id=batch_id, tenant=tenant)
    return batches


def answered_within(client: CascadeClient, job_id: str, timeout: float) -> float:
    started = time.monotonic()
    result = client.wait(job_id, timeout=timeout)
    assert isinstance(result, CompletionResult), result
    return time.monotonic() - started


def test_another_tenant_s_job_behind_a_3000_job_backlog_is_answered_within_latency_plus_1s(
    client: CascadeClient, emulator: Emulator
) -> None:
    batches = backlog(client, "hol", 3000, tenant="big")
    time.sleep(1.0)  # the backlog is being served

    submitted = time.monotonic()
    job_id = client.submit(PROMPT, tier="fast", tenant="small", priority="bulk")
    client.wait(job_id, timeout=30)
    waited = time.monotonic() - submitted

    left = batches.get("hol").counts
    batches.cancel("hol")
    assert waited <= LATENCY_S + 1.0, f"waited {waited:.2f}s"
    assert left.finished < 2000  # it really was behind a backlog


def test_weights_three_to_one_share_completions_75_25_while_both_are_backlogged(
    client: CascadeClient, emulator: Emulator
) -> None:
    ids = client.submit_many(
        jobs("h", 240, tenant="heavy", priority="bulk")
        + jobs("l", 240, tenant="light", priority="bulk")
    )

    results = client.wait_many(ids, timeout=60)

    assert len(results) == 480
    by_finish = sorted(results.values(), key=lambda result: result.finished_at)
    # heavy runs out after about 320 completions: the first 240 are all while both wait
    first = [result.tenant for result in by_finish[:240]]
    share = first.count("heavy") / len(first)
    assert 0.70 <= share <= 0.80, f"heavy got {share:.0%}"


def test_an_interactive_job_overtakes_its_own_tenant_s_bulk_backlog(
    client: CascadeClient, emulator: Emulator
) -> None:
    batches = backlog(client, "own", 1000, tenant="solo")
    time.sleep(0.5)

    job_id = client.submit(PROMPT, tier="fast", tenant="solo", priority="interactive")
    waited = answered_within(client, job_id, timeout=30)

    left = batches.get("own").counts
    batches.cancel("own")
    assert waited <= LATENCY_S + 1.0, f"waited {waited:.2f}s"
    assert left.finished < 700


def test_a_bulk_job_is_not_starved_by_an_interactive_backlog(
    client: CascadeClient, emulator: Emulator
) -> None:
    urgent = client.submit_many(jobs("i", 400, tenant="busy", priority="interactive"))
    time.sleep(0.3)

    job_id = client.submit(PROMPT, tier="fast", tenant="busy", priority="bulk")
    waited = answered_within(client, job_id, timeout=30)
    still_waiting = len(urgent) - len(client.store.results(urgent))

    assert waited <= 2.0, f"waited {waited:.2f}s"
    assert still_waiting > 100  # it went while the interactive backlog was far from done
    assert len(client.wait_many(urgent, timeout=60)) == len(urgent)


def test_a_cancelled_backlog_leaves_nothing_queued_and_later_jobs_run_at_once(
    client: CascadeClient, emulator: Emulator
) -> None:
    batches = backlog(client, "gone", 2000, tenant="cancels")
    batches.cancel("gone")

    job_id = client.submit(PROMPT, tier="fast", tenant="cancels", priority="bulk")
    waited = answered_within(client, job_id, timeout=30)

    assert waited <= LATENCY_S + 1.0
    answered = emulator.answered()
    assert answered < 100, f"{answered} cancelled jobs were still called"
    # every line ended: cancelled, or answered if it was picked before the cancel came
    ended = client.store.results([f"gone-{i}" for i in range(1, 2001)])
    assert len(ended) == 2000


def test_a_worker_killed_mid_dispatch_and_mid_call_loses_no_job_and_runs_none_twice(
    client: CascadeClient, emulator: Emulator, stack: LocalStack
) -> None:
    ids = client.submit_many(jobs("k", 600, tenant="killed", priority="standard"))
    time.sleep(1.5)  # its dispatcher is topping up and 16 calls are in flight
    stack.kill_worker("alpha")
    stack.start_worker("alpha", concurrency=16)
    stack.wait_for_workers()

    results = client.wait_many(ids, timeout=90)

    assert len(results) == len(ids), f"{len(results)} of {len(ids)} ended"
    failed = [r for r in results.values() if isinstance(r, FailedResult)]
    assert not failed, failed[:3]
    answered = emulator.answered()
    # at least once: the calls in flight when it died may be made again, no others
    assert len(ids) <= answered <= len(ids) + 16, f"{answered} calls answered"
    assert client.redis.hlen(client.keys.sched_messages("fast.alpha")) == 0


def test_a_job_whose_deadline_comes_before_the_target_usually_answers_ends_without_a_call(
    client: CascadeClient, emulator: Emulator
) -> None:
    client.redis.delete(client.keys.latency())
    LatencyBook(client.redis, client.keys).observe("alpha", "a1", 5.0)  # the first: 5 s
    time.sleep(1.2)  # the workers re-read observed latencies once a second
    try:
        soon = datetime.now(UTC) + timedelta(seconds=3)
        job_id = client.submit(PROMPT, tier="fast", tenant="rushed", deadline=soon)
        result = client.wait(job_id, timeout=30)
    finally:
        client.redis.delete(client.keys.latency())

    assert isinstance(result, FailedResult)
    assert result.error_class == "DeadlineExceeded"
    assert emulator.answered() == 0
