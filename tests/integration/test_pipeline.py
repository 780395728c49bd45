"""The core pipeline end to end on real parts: a real Redis, real ``cascade worker`` processes
and the emulator over real HTTP. Each test sets the emulator's faults, submits through the
client, and checks both the result and what the emulator received."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from broker.client import CascadeClient
from broker.jobs import AttemptOutcome, CompletionResult, FailedResult
from broker.local_stack import LocalStack
from routing.usage import day_period, read_usage
from tests.integration.support import FAST_ENV, Emulator, client_for, fresh_emulator, wait_for

pytestmark = pytest.mark.integration

CATALOG = str(Path(__file__).parents[1] / "fixtures" / "catalog.yaml")
PROMPT = {"messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 50}


def _today() -> str:
    return day_period(datetime.now(UTC))


@pytest.fixture(scope="module")
def stack(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    logs = tmp_path_factory.mktemp("stack-logs")
    with LocalStack(config=CATALOG, redis_url=redis_url, log_dir=logs, extra_env=FAST_ENV) as s:
        s.start_redis()
        s.start_emulator()
        for provider in ("alpha", "beta", "gamma"):
            s.start_worker(provider, concurrency=8)
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


def test_a_job_is_answered_by_the_first_target_of_its_tier(
    client: CascadeClient, emulator: Emulator
) -> None:
    job_id = client.submit(PROMPT, tier="fast")
    result = client.wait(job_id, timeout=30)

    assert isinstance(result, CompletionResult)
    assert (result.job_id, result.provider, result.tier) == (job_id, "alpha", "fast")
    assert result.choices[0].message.content
    assert result.usage.total_tokens > 0 and result.cost_usd > 0
    assert [a.outcome for a in result.attempts] == [AttemptOutcome.SUCCESS]
    assert emulator.calls()["by_model"] == {"alpha/alpha-small-1": 1}


def test_a_503_is_retried_then_rerouted_and_answered_by_the_next_target(
    client: CascadeClient, emulator: Emulator
) -> None:
    emulator.faults({"provider": "alpha", "model": "*", "kind": "status", "status": 503})

    result = client.wait(client.submit(PROMPT, tier="fast"), timeout=30)

    assert isinstance(result, CompletionResult)
    assert (result.provider, result.model) == ("beta", "beta-fast-1")
    on_alpha = [a for a in result.attempts if a.target.provider == "alpha"]
    # max_retries is 2: the first call and two retries, then the route moves on.
    assert [a.outcome for a in on_alpha] == [
        AttemptOutcome.RETRY,
        AttemptOutcome.RETRY,
        AttemptOutcome.REROUTE,
    ]
    assert {(a.error_class, a.status_code) for a in on_alpha} == {("Overloaded", 503)}
    assert result.attempts[-1].target.provider == "beta"
    assert result.attempts[-1].outcome == AttemptOutcome.SUCCESS
    assert emulator.calls()["by_provider"] == {"alpha": 3, "beta": 1}


def test_an_invalid_request_fails_at_once_without_retry_or_reroute(
    client: CascadeClient, emulator: Emulator
) -> None:
    emulator.faults(
        {
            "provider": "alpha",
            "model": "*",
            "kind": "status",
            "status": 400,
            "error_code": "invalid_value",
            "message": "Invalid value for 'seed'.",
        }
    )

    result = client.wait(client.submit(PROMPT, tier="fast"), timeout=30)

    assert isinstance(result, FailedResult)
    assert result.error_class == "InvalidRequest"
    assert [(a.target.provider, a.outcome) for a in result.attempts] == [
        ("alpha", AttemptOutcome.FAILED)
    ]
    assert emulator.calls()["by_provider"] == {"alpha": 1}


def test_a_job_whose_every_target_fails_ends_failed_with_every_attempt_recorded(
    client: CascadeClient, emulator: Emulator
) -> None:
    emulator.faults({"provider": "*", "model": "*", "kind": "status", "status": 500})

    job_id = client.submit(PROMPT, tier="fast")
    result = client.wait(job_id, timeout=60)

    assert isinstance(result, FailedResult)
    assert result.error_class == "ServerError"
    # The route is fast's a1, b1, then its fallback smart's g1, b2: three calls on each.
    visited = [a.target.model for a in result.attempts]
    assert visited == ["a1"] * 3 + ["b1"] * 3 + ["g1"] * 3 + ["b2"] * 3
    assert result.attempts[-1].outcome == AttemptOutcome.FAILED
    assert all(a.status_code == 500 for a in result.attempts)
    assert emulator.calls()["total"] == 12
    assert client.get(job_id) == result


def _kill_alpha_mid_call(
    stack: LocalStack, client: CascadeClient, emulator: Emulator, tenant: str
) -> CompletionResult:
    """Submit a job, SIGKILL alpha's worker while the provider is answering it, start another;
    the job's result."""
    emulator.latency(providers={"alpha": 3.0})
    job_id = client.submit(PROMPT, tier="fast", tenant=tenant)
    wait_for(lambda: emulator.calls().get("by_provider", {}).get("alpha", 0) >= 1, 20)

    label = next(name for name in stack.workers if name.startswith("alpha"))
    stack.kill_worker(label, signal.SIGKILL)
    emulator.latency(providers={"alpha": 0.0})
    stack.start_worker("alpha", name=f"alpha-after-{tenant}", concurrency=8)
    stack.wait_for_workers()

    result = client.wait(job_id, timeout=60)
    assert isinstance(result, CompletionResult)
    assert result.provider == "alpha"
    return result


def test_a_worker_killed_mid_call_loses_no_job_and_its_call_is_recorded(
    stack: LocalStack, client: CascadeClient, emulator: Emulator
) -> None:
    result = _kill_alpha_mid_call(stack, client, emulator, "killed-mid-call")

    # The redelivery records the killed call, then makes the call that answers: as many calls
    # recorded as the provider received.
    assert [(a.outcome, a.error_class) for a in result.attempts] == [
        (AttemptOutcome.RETRY, "WorkerLost"),
        (AttemptOutcome.SUCCESS, None),
    ]
    assert [a.number for a in result.attempts] == [1, 2]
    assert emulator.calls()["by_provider"]["alpha"] == len(result.attempts) == 2
    rows = read_usage(
        client.redis, client.keys, scope="tenant", name="killed-mid-call", period=_today()
    )
    assert [(row.jobs, row.lost_calls) for row in rows] == [(1, 1)]


def test_a_worker_killed_mid_call_leaves_nothing_reserved_and_its_call_counted(
    stack: LocalStack, client: CascadeClient, emulator: Emulator
) -> None:
    result = _kill_alpha_mid_call(stack, client, emulator, "killed-holding-spend")

    rows = read_usage(
        client.redis, client.keys, scope="tenant", name="killed-holding-spend", period=_today()
    )
    # The dead delivery's reservation is not left to block the caps for the rest of the day:
    # it is counted as spent, since the provider may have billed the call.
    assert (rows[0].reserved_usd, rows[0].reserved_tokens) == (0, 0)
    lost = result.attempts[0]
    assert lost.cost_usd > 0 and lost.usage is None
    assert result.cost_usd == pytest.approx(sum(a.cost_usd for a in result.attempts))
    assert rows[0].cost_usd == pytest.approx(result.cost_usd, abs=1e-9)


def test_many_jobs_submitted_together_each_end_exactly_once(
    client: CascadeClient, emulator: Emulator
) -> None:
    jobs = [{"needs": {"tier": tier}, "request": PROMPT} for tier in ["fast", "smart"] * 20]
    ids = client.submit_many(jobs)

    results = client.wait_many(ids, timeout=60)

    assert sorted(results) == sorted(ids)
    assert all(isinstance(item, CompletionResult) for item in results.values())
    answered = emulator.calls()["answered_by_job"]
    assert {job_id: answered.get(job_id) for job_id in ids} == {job_id: 1 for job_id in ids}


def test_a_dead_letter_is_listed_and_replayed_under_the_same_id(
    client: CascadeClient, emulator: Emulator
) -> None:
    emulator.faults({"provider": "*", "model": "*", "kind": "status", "status": 503})
    job_id = client.submit(PROMPT, tier="fast")
    failed = client.wait(job_id, timeout=60)
    assert isinstance(failed, FailedResult)
    assert job_id in [item.job_id for item in client.dead_letters()]

    emulator.faults()
    assert client.replay(job_id) is True
    assert client.replay(job_id) is False  # already running again: not replayed twice
    result = client.wait(job_id, timeout=30)

    assert isinstance(result, CompletionResult)
    assert result.provider == "alpha"
    # The failed run's attempts stay on record, ahead of the replay's.
    assert [a.run for a in result.attempts] == [0] * 12 + [1]
    assert job_id not in [item.job_id for item in client.dead_letters()]


def test_waiting_for_jobs_returns_as_soon_as_they_end_not_at_the_timeout(
    client: CascadeClient, emulator: Emulator
) -> None:
    ids = client.submit_many([{"needs": {"tier": "fast"}, "request": PROMPT}] * 3)
    client.wait_many(ids, timeout=30)

    started = time.monotonic()
    found = client.wait_many(ids, timeout=30)

    assert sorted(found) == sorted(ids)
    assert time.monotonic() - started < 5
