"""Circuits and rate limits on real parts (issue 13): healthy-enough traffic is never failed by a
circuit, 429s slow a key down instead of taking it out, and a shared limit holds where the
provider counts it.

One stack for the module (its own Redis database, the emulator); each test starts the workers
of its own provider, which backs a tier alone (``catalog_circuits.yaml``), so a circuit or a key
opened on healthy traffic shows as failed jobs. What the provider received is counted at the
emulator.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from broker.catalog_file import load_catalog
from broker.client import CascadeClient
from broker.jobs import AttemptOutcome, FailedResult
from broker.keys import Keys
from broker.local_stack import LocalStack
from routing.circuit import CircuitState, key_target, model_target
from routing.circuit_store import CircuitBreakers
from routing.key_pool import PLACEHOLDER_KEY_ID
from tests.integration.support import Emulator, client_for, fresh_emulator, stack_on_database
from tests.integration.test_resilience import (
    answered_more_than_once,
    assert_each_ended_once,
    results_within,
)

pytestmark = pytest.mark.integration

CATALOG = str(Path(__file__).parents[1] / "fixtures" / "catalog_circuits.yaml")
PROMPT = {"messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 20}


@pytest.fixture(scope="module")
def stack(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    logs = tmp_path_factory.mktemp("circuit-logs")
    with stack_on_database(redis_url, 10, config=CATALOG, log_dir=logs) as stack:
        yield stack


@pytest.fixture
def emulator(stack: LocalStack) -> Iterator[Emulator]:
    with fresh_emulator(stack) as control:
        yield control
    for label in list(stack.workers):
        stack.kill_worker(label, signal.SIGTERM)


@pytest.fixture
def client(stack: LocalStack) -> Iterator[CascadeClient]:
    with client_for(stack, CATALOG) as client:
        yield client


def submit(client: CascadeClient, tier: str, count: int) -> list[str]:
    return client.submit_many([{"needs": {"tier": tier}, "request": PROMPT} for _ in range(count)])


def circuit_state(client: CascadeClient, provider: str, target: str) -> CircuitState:
    policy = load_catalog(CATALOG, None).provider(provider).circuit
    breakers = CircuitBreakers(client.redis, Keys(client.settings.key_prefix), policy)
    return breakers.snapshot([target])[target].state


@pytest.mark.timeout(240)
def test_two_percent_of_transient_errors_on_a_single_provider_tier_fail_no_job(
    stack: LocalStack, emulator: Emulator, client: CascadeClient
) -> None:
    # 5 failures in 30 s opened the default circuit whatever the volume: of 1,000 such jobs,
    # 755 failed. At 2 %, 300 jobs meet at least 6 errors.
    emulator.latency(providers={"solo": 0.02})
    emulator.faults({"provider": "solo", "kind": "status", "status": 500, "fraction": 0.02})
    stack.start_worker("solo", concurrency=16)
    stack.wait_for_workers()

    ids = submit(client, "single", 300)
    answered = assert_each_ended_once(client, ids, results_within(client, ids, timeout=150))

    calls = emulator.calls()
    assert calls["by_status"].get("500", 0) >= 6
    assert answered_more_than_once(emulator, ids) == {}
    assert {result.provider for result in answered.values()} == {"solo"}
    assert circuit_state(client, "solo", model_target("solo", "s1")) is CircuitState.CLOSED


@pytest.mark.timeout(240)
def test_twenty_percent_of_429s_slow_a_single_key_down_and_fail_no_job(
    stack: LocalStack, emulator: Emulator, client: CascadeClient
) -> None:
    # Counted as the key's failures, 429s opened its circuit: 130 of 150 such jobs failed as
    # "AuthError: no usable API key".
    emulator.latency(providers={"throttled": 0.02})
    emulator.faults(
        {"provider": "throttled", "kind": "rate_limit", "retry_after": 0.1, "fraction": 0.2}
    )
    stack.start_worker("throttled", concurrency=8)
    stack.wait_for_workers()

    ids = submit(client, "throttle", 150)
    answered = assert_each_ended_once(client, ids, results_within(client, ids, timeout=150))

    assert emulator.calls()["by_status"].get("429", 0) >= 30
    errors = {a.error_class for r in answered.values() for a in r.attempts if a.error_class}
    assert errors == {"RateLimited"}
    key = key_target("throttled", PLACEHOLDER_KEY_ID)
    assert circuit_state(client, "throttled", key) is CircuitState.CLOSED


@pytest.mark.timeout(240)
def test_after_heavy_429s_a_jobs_attempts_say_rate_limited_never_auth_error(
    stack: LocalStack, emulator: Emulator, client: CascadeClient
) -> None:
    emulator.faults({"provider": "throttled", "kind": "rate_limit", "retry_after": 0.05})
    stack.start_worker("throttled", concurrency=8)
    stack.wait_for_workers()
    calls_per_job = 1 + load_catalog(CATALOG, None).provider("throttled").max_retries

    ids = submit(client, "throttle", 10)
    results = results_within(client, ids, timeout=150)

    assert sorted(results) == sorted(ids)
    for job_id, result in results.items():
        assert isinstance(result, FailedResult), job_id
        assert result.error_class == "RateLimited"
        assert [a.error_class for a in result.attempts] == ["RateLimited"] * calls_per_job
        assert AttemptOutcome.SKIPPED not in {a.outcome for a in result.attempts}
    # Every job made all its calls: none was turned away by a key taken for unusable.
    assert emulator.calls()["by_status"] == {"429": len(ids) * calls_per_job}
    key = key_target("throttled", PLACEHOLDER_KEY_ID)
    assert circuit_state(client, "throttled", key) is CircuitState.CLOSED


@pytest.mark.system
@pytest.mark.timeout(240)
def test_two_workers_sharing_a_key_never_put_more_than_its_limit_in_any_window_at_the_provider(
    stack: LocalStack, emulator: Emulator, client: CascadeClient
) -> None:
    limit = load_catalog(CATALOG, None).provider("limited").rate_limit
    assert limit is not None and limit.rpm is not None
    stack.start_worker("limited", name="limited-1", concurrency=4)
    stack.start_worker("limited", name="limited-2", concurrency=4)
    stack.wait_for_workers()

    jobs = 36  # more than three windows' worth: the limit has to hold them back
    ids = submit(client, "metered", jobs)
    assert_each_ended_once(client, ids, results_within(client, ids, timeout=150))

    calls = emulator.calls(times=True)
    assert calls["by_provider"] == {"limited": jobs}  # one call each: none was skipped
    arrivals = sorted(calls["arrivals"]["limited"])
    # Measured where the provider counts: any limit + 1 calls span more than one window, so
    # no window (closed at both ends) holds more than the limit.
    spans = [later - first for first, later in zip(arrivals, arrivals[limit.rpm :], strict=False)]
    assert min(spans) > limit.window_s, sorted(spans)[:3]


@pytest.mark.timeout(120)
def test_a_key_held_longer_than_a_jobs_deadline_allows_is_skipped_as_rate_limited_without_a_call(
    stack: LocalStack, emulator: Emulator, client: CascadeClient
) -> None:
    # Retry-After 30 s, above FAST_ENV's CASCADE_MAX_RETRY_AFTER_S of 3 s: the key is held.
    emulator.faults(
        {"provider": "throttled", "kind": "rate_limit", "retry_after": 30, "first_n": 1}
    )
    stack.start_worker("throttled", concurrency=2)
    stack.wait_for_workers()
    [first] = submit(client, "throttle", 1)
    assert isinstance(results_within(client, [first], timeout=60)[first], FailedResult)

    # Hold instead of fail: a job that may wait is held while the key is, so these have a
    # deadline (8 s) that comes before the key's 30 s: they end skipped, with no call.
    deadline = (datetime.now(UTC) + timedelta(seconds=8)).isoformat()
    job = {"needs": {"tier": "throttle"}, "request": PROMPT, "envelope": {"deadline": deadline}}
    later = client.submit_many([dict(job) for _ in range(3)])
    results = results_within(client, later, timeout=60)

    assert emulator.calls()["by_provider"] == {"throttled": 1}  # the first job's call only
    for job_id in later:
        result = results[job_id]
        assert isinstance(result, FailedResult)
        [skipped] = result.attempts
        assert (skipped.outcome, skipped.error_class) == (AttemptOutcome.SKIPPED, "RateLimited")
        assert "held by a 429" in (skipped.error_message or "")
