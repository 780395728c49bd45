"""Resilience on real parts (issue 4): a flaky provider, a provider hard down, a rate limit shared
by two workers, a worker killed with SIGKILL and a Redis restart, each in the middle of a batch.

Every test starts its own stack (the emulator, real ``cascade worker`` processes) on its own
Redis database (Celery's queue names carry no prefix, so two tests' workers must never share
one); the Redis-restart test runs a redis-server of its own, with an append-only file. What the
providers received is counted at the emulator, never taken from cascade's own word. Latencies,
timeouts and circuit windows are scaled down (``catalog_resilience.yaml``, ``FAST_ENV``); the
job counts the issue names are not.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import closing, contextmanager
from pathlib import Path

import pytest
import redis

from broker.catalog_file import load_catalog
from broker.client import CascadeClient
from broker.jobs import AttemptOutcome, CompletionResult, FailedResult
from broker.keys import Keys
from broker.local_stack import LocalStack, free_port
from routing.circuit import CircuitState, model_target
from routing.circuit_store import CircuitBreakers
from routing.rate_limit import emission_interval_us
from tests.integration.support import FAST_ENV, Emulator, client_for, wait_for

pytestmark = pytest.mark.integration

CATALOG = str(Path(__file__).parents[1] / "fixtures" / "catalog_resilience.yaml")
PROMPT = {"messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 20}

# alpha fails 30% of its calls, a mix of 429, 500, 529 and timeouts. Each rule counts every alpha
# call and the first that fires decides, so with these fractions the emulator's error diffusion
# fails exactly 30 calls in every 100: 8 x 429, 8 x 500, 8 x 529, 6 timeouts.
FLAKY_ALPHA = (
    {"provider": "alpha", "kind": "rate_limit", "retry_after": 0.1, "fraction": 0.08},
    {"provider": "alpha", "kind": "status", "status": 500, "fraction": 0.09},
    {"provider": "alpha", "kind": "status", "status": 529, "fraction": 0.10},
    # held longer than alpha's read timeout (1 s): the worker gives up, a ProviderTimeout
    {"provider": "alpha", "kind": "timeout", "hang_s": 3, "fraction": 0.07},
)
FLAKY_STATUSES = ("429", "500", "529", "504")


@contextmanager
def cascade_stack(
    log_dir: Path, *, db: int | None = None, shared_redis: str | None = None
) -> Iterator[tuple[LocalStack, Emulator]]:
    """Redis (database ``db`` of ``shared_redis``, flushed; else a private appendonly server),
    the emulator, and no worker yet. Everything is stopped on the way out."""
    url = None
    if shared_redis is not None and db is not None:
        url = shared_redis.rsplit("/", 1)[0] + f"/{db}"
        with closing(redis.Redis.from_url(url)) as connection:
            connection.flushdb()
    with LocalStack(config=CATALOG, redis_url=url, log_dir=log_dir, extra_env=FAST_ENV) as stack:
        if url is None:
            stack.start_redis(appendonly=True, port=free_port())
        else:
            stack.start_redis()
        stack.start_emulator()
        yield stack, Emulator(stack.emulator_url)


def submit(client: CascadeClient, tier: str, count: int) -> list[str]:
    return client.submit_many([{"needs": {"tier": tier}, "request": PROMPT} for _ in range(count)])


def results_within(
    client: CascadeClient, ids: Sequence[str], timeout: float
) -> dict[str, CompletionResult | FailedResult]:
    """The results of the jobs that ended within ``timeout`` seconds, read from the job store.

    A plain poll of the job store rather than ``CascadeClient.wait_many``, so that these tests
    do not depend on the completion events the worker publishes. A Redis that is restarting is
    waited for.
    """
    done: dict[str, CompletionResult | FailedResult] = {}
    deadline = time.monotonic() + timeout
    while len(done) < len(ids) and time.monotonic() < deadline:
        try:
            done.update(client.store.results([job for job in ids if job not in done]))
        except (redis.ConnectionError, redis.TimeoutError):
            pass
        time.sleep(0.25)
    return done


def assert_each_ended_once(
    client: CascadeClient,
    ids: Sequence[str],
    results: dict[str, CompletionResult | FailedResult],
) -> dict[str, CompletionResult]:
    """Every job has its one final result, answered; it holds exactly one successful attempt,
    the last; and nothing was recorded for the job after its end (no late duplicate call)."""
    assert len(set(ids)) == len(ids)
    missing = sorted(set(ids) - set(results))
    assert not missing, f"{len(missing)} jobs never ended, e.g. {missing[:3]}"
    failed = {job: r.error_class for job, r in results.items() if isinstance(r, FailedResult)}
    assert not failed, f"{len(failed)} jobs failed: {dict(list(failed.items())[:3])}"
    answered = {job: r for job, r in results.items() if isinstance(r, CompletionResult)}
    for job_id, result in answered.items():
        outcomes = [attempt.outcome for attempt in result.attempts]
        assert outcomes.count(AttemptOutcome.SUCCESS) == 1, (job_id, outcomes)
        assert outcomes[-1] == AttemptOutcome.SUCCESS, (job_id, outcomes)
        assert client.store.attempts(job_id) == result.attempts, job_id
        assert client.get(job_id) == result
    return answered


def answered_more_than_once(emulator: Emulator, ids: Sequence[str]) -> dict[str, int]:
    answered = emulator.calls()["answered_by_job"]
    return {job: answered.get(job, 0) for job in ids if answered.get(job, 0) != 1}


def duplicate_successes_logged(stack: LocalStack, labels: Sequence[str]) -> int:
    """Deliveries that got an answer after the job already had its result (runner's wording)."""
    return sum(
        stack.log_path(f"worker-{label}")
        .read_text(errors="replace")
        .count("succeeded, a duplicate")
        for label in labels
    )


def deliveries_that_called(stack: LocalStack, label: str) -> int:
    """Deliveries of the worker that got an answer: each logs "job succeeded" (telemetry)."""
    text = stack.log_path(f"worker-{label}").read_text(errors="replace")
    return sum(1 for line in text.splitlines() if "job succeeded" in line)


# --- a provider failing 30% of its calls --------------------------------------------------


@pytest.mark.system
@pytest.mark.timeout(540)
def test_a_thousand_jobs_through_a_provider_failing_30_percent_each_end_exactly_once(
    redis_url: str, tmp_path: Path
) -> None:
    with cascade_stack(tmp_path, db=11, shared_redis=redis_url) as (stack, emulator):
        stack.start_worker("alpha", concurrency=16)
        stack.start_worker("beta", concurrency=8)
        stack.wait_for_workers()
        emulator.faults(*FLAKY_ALPHA)
        with client_for(stack, CATALOG) as client:
            ids = submit(client, "fast", 1000)
            results = results_within(client, ids, timeout=420)
            answered = assert_each_ended_once(client, ids, results)

        calls = emulator.calls()
        # The scenario happened: alpha failed 30% of its calls, with every kind of failure.
        alpha_calls = calls["by_provider"]["alpha"]
        failures = {status: calls["by_status"].get(status, 0) for status in FLAKY_STATUSES}
        assert all(failures.values()), failures
        assert 0.27 <= sum(failures.values()) / alpha_calls <= 0.33, (failures, alpha_calls)
        # No job was answered twice, and every call a provider received is one recorded attempt.
        assert answered_more_than_once(emulator, ids) == {}
        called = {
            job: sum(1 for a in r.attempts if a.outcome != AttemptOutcome.SKIPPED)
            for job, r in answered.items()
        }
        assert {job: calls["by_job"].get(job, 0) for job in ids} == called
        assert duplicate_successes_logged(stack, ["alpha", "beta"]) == 0
        # Most jobs got through alpha despite its failures; those it failed three times moved on.
        by_provider = {r.provider for r in answered.values()}
        assert by_provider == {"alpha", "beta"}
        assert sum(1 for r in answered.values() if r.provider == "alpha") > 900


# --- a provider hard down -------------------------------------------------------------------


@pytest.mark.timeout(240)
def test_once_a_hard_down_providers_circuit_opens_no_call_reaches_it_and_jobs_reroute_at_once(
    redis_url: str, tmp_path: Path
) -> None:
    catalog = load_catalog(CATALOG, None)
    policy = catalog.provider("delta").circuit
    concurrency = 4
    with cascade_stack(tmp_path, db=12, shared_redis=redis_url) as (stack, emulator):
        stack.start_worker("delta", concurrency=concurrency)
        stack.start_worker("beta", concurrency=8)
        stack.wait_for_workers()
        emulator.faults({"provider": "delta", "kind": "status", "status": 503})
        with client_for(stack, CATALOG) as client:
            breakers = CircuitBreakers(client.redis, Keys(client.settings.key_prefix), policy)
            circuit = model_target("delta", "d1")

            # 100 jobs queued on delta while it is down: it fails, its circuit opens, and the
            # jobs still queued there skip it without a call.
            first = submit(client, "guarded", 100)
            first_results = assert_each_ended_once(
                client, first, results_within(client, first, timeout=120)
            )
            status = breakers.snapshot([circuit])[circuit]
            assert status.state is CircuitState.OPEN
            assert status.opened_at is not None
            delta_calls = emulator.calls(times=True)
            reached = delta_calls["by_provider"]["delta"]
            # the calls that opened it, and at most the others already in flight at that moment
            assert policy.min_calls <= reached <= policy.min_calls + concurrency - 1
            late = [t for t in delta_calls["arrivals"]["delta"] if t > status.opened_at + 1.0]
            assert late == [], "calls reached delta well after its circuit opened"
            _assert_rerouted(first_results.values(), delta_calls_made=reached)

            # Jobs submitted while the circuit is open never reach delta and never wait for it.
            second = submit(client, "guarded", 100)
            second_results = assert_each_ended_once(
                client, second, results_within(client, second, timeout=120)
            )
        assert emulator.calls()["by_provider"]["delta"] == reached
        for result in second_results.values():
            assert result.provider == "beta"
            assert [(a.target.provider, a.outcome) for a in result.attempts] in (
                [("beta", AttemptOutcome.SUCCESS)],
                [("delta", AttemptOutcome.SKIPPED), ("beta", AttemptOutcome.SUCCESS)],
            )


def _assert_rerouted(results: Iterable[CompletionResult], *, delta_calls_made: int) -> None:
    """Every job was answered by beta; delta's calls are the recorded ones, and a job that found
    the circuit open skipped delta with no call and went straight on to beta."""
    recorded_calls = 0
    skipped = 0
    for result in results:
        assert result.provider == "beta"
        on_delta = [a for a in result.attempts if a.target.provider == "delta"]
        recorded_calls += sum(1 for a in on_delta if a.outcome != AttemptOutcome.SKIPPED)
        skips = [a for a in on_delta if a.outcome == AttemptOutcome.SKIPPED]
        if skips:
            skipped += 1
            assert len(skips) == 1 and skips[0].error_class == "CircuitOpen"
            assert result.attempts.index(skips[0]) == len(result.attempts) - 2
    assert recorded_calls == delta_calls_made
    assert skipped >= 50  # most of the batch was still queued when the circuit opened


# --- a rate limit shared by two workers -----------------------------------------------------


@pytest.mark.system
@pytest.mark.timeout(240)
def test_two_workers_sharing_a_60_rpm_key_never_exceed_it_together(
    redis_url: str, tmp_path: Path
) -> None:
    limit = load_catalog(CATALOG, None).provider("gamma").rate_limit
    assert limit is not None and limit.rpm == 60
    interval_us = emission_interval_us(
        limit.rpm, limit.request_burst, window_s=limit.window_s, guard_s=limit.guard_s
    )
    interval_s = interval_us / 1_000_000
    jobs = 30  # twice what the limit lets through in the first ~10 s: it has to hold them back
    with cascade_stack(tmp_path, db=13, shared_redis=redis_url) as (stack, emulator):
        stack.start_worker("gamma", name="gamma-1", concurrency=4)
        stack.start_worker("gamma", name="gamma-2", concurrency=4)
        stack.wait_for_workers()
        with client_for(stack, CATALOG) as client:
            ids = submit(client, "metered", jobs)
            answered = assert_each_ended_once(client, ids, results_within(client, ids, timeout=150))
        calls = emulator.calls(times=True)

    assert {r.provider for r in answered.values()} == {"gamma"}
    assert calls["by_provider"] == {"gamma": jobs}  # each job called once: none skipped gamma
    arrivals = sorted(calls["arrivals"]["gamma"])
    # Measured where the provider would: no 60-second window holds more than 60 calls, and no
    # shorter one more than the burst plus what the rate allows (GCRA's promise). ``jitter_s``
    # allows for a call granted first arriving after one granted later (threads, connections).
    jitter_s = 1.0
    for first in range(len(arrivals)):
        for last in range(first, len(arrivals)):
            span = arrivals[last] - arrivals[first]
            allowed = limit.request_burst + (span + jitter_s) / interval_s
            assert last - first + 1 <= allowed, (first, last, span)
            if span <= 60:
                assert last - first + 1 <= limit.rpm
    # Both workers called gamma: the limit held for the two together, not each on its own.
    assert deliveries_that_called(stack, "gamma-1") > 0
    assert deliveries_that_called(stack, "gamma-2") > 0


# --- a worker killed mid-batch, Redis restarted mid-batch ------------------------------------


@pytest.mark.timeout(300)
def test_a_worker_killed_with_sigkill_mid_batch_loses_no_job(
    redis_url: str, tmp_path: Path
) -> None:
    jobs, concurrency = 300, 8
    with cascade_stack(tmp_path, db=14, shared_redis=redis_url) as (stack, emulator):
        emulator.latency(providers={"beta": 0.3})
        stack.start_worker("beta", name="beta-1", concurrency=concurrency)
        stack.start_worker("beta", name="beta-2", concurrency=concurrency)
        stack.wait_for_workers()
        with client_for(stack, CATALOG) as client:
            ids = submit(client, "steady", jobs)
            wait_for(lambda: emulator.answered() >= jobs // 5, 120, "a fifth of the batch")
            assert deliveries_that_called(stack, "beta-1") > 0  # it was doing its share
            stack.kill_worker("beta-1", signal.SIGKILL)
            assert emulator.answered() < jobs  # mid-batch: most of it is still to do
            stack.start_worker("beta", name="beta-3", concurrency=concurrency)
            stack.wait_for_workers()
            results = results_within(client, ids, timeout=180)
            answered = assert_each_ended_once(client, ids, results)
        # The calls the killed worker had in flight were answered to nobody, then made again by
        # their redelivered messages: at least one (it was killed mid-call), at most one per slot.
        twice = answered_more_than_once(emulator, ids)
        assert set(twice.values()) == {2} and 1 <= len(twice) <= concurrency, twice
        # Each of those lost calls is on record too: every call beta received is recorded. A
        # call is marked before it is sent, so a worker killed between the two leaves a lost
        # call on record (WorkerLost, counted as spent: it may have been billed) that beta
        # never saw; a recorded call beta did not receive is always such a one.
        by_job = emulator.calls()["by_job"]
        for job in ids:
            attempts = answered[job].attempts
            recorded = sum(1 for a in attempts if a.outcome != AttemptOutcome.SKIPPED)
            lost = sum(1 for a in attempts if a.error_class == "WorkerLost")
            assert recorded - lost <= by_job.get(job, 0) <= recorded, (job, attempts)
            if job in twice:
                assert lost == 1, (job, attempts)


@pytest.mark.timeout(300)
def test_a_redis_restart_mid_batch_loses_no_job(tmp_path: Path) -> None:
    jobs, concurrency = 300, 8
    with cascade_stack(tmp_path) as (stack, emulator):
        emulator.latency(providers={"beta": 0.1})
        stack.start_worker("beta", concurrency=concurrency)
        stack.wait_for_workers()
        with client_for(stack, CATALOG) as client:
            ids = submit(client, "steady", jobs)
            wait_for(lambda: emulator.answered() >= jobs // 5, 120, "a fifth of the batch")
            stack.restart_redis(down_s=2.0)
            assert emulator.answered() < jobs  # mid-batch: most of it is still to do
            assert_each_ended_once(client, ids, results_within(client, ids, timeout=200))
        # Only a call in flight when Redis went away can have been answered twice (its result
        # could not be stored, so the job ran again): at most one per worker slot.
        twice = answered_more_than_once(emulator, ids)
        assert set(twice.values()) <= {2} and len(twice) <= concurrency, twice
