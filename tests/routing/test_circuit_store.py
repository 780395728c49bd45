"""Circuit breakers in a real Redis: transitions, the single probe under a race, the numbers."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis

from broker.keys import Keys
from routing.circuit import CircuitPolicy, CircuitState, Permit, Transition, model_target
from routing.circuit_store import CircuitBreakers
from tests.routing.factories import Clock

pytestmark = pytest.mark.integration

TARGET = model_target("alpha", "a1")


def breakers(
    client: redis.Redis, keys: Keys, clock: Clock | None, **policy: float
) -> CircuitBreakers:
    return CircuitBreakers(client, keys, CircuitPolicy.model_validate(policy), clock=clock)


def fail(cb: CircuitBreakers, target: str = TARGET, times: int = 1) -> list[Transition | None]:
    results = []
    for _ in range(times):
        permit = cb.before_call(target)
        results.append(cb.record(target, success=False, latency_s=1.0, permit=permit))
    return results


def succeed(cb: CircuitBreakers, target: str = TARGET, times: int = 1) -> None:
    for _ in range(times):
        cb.record(target, success=True, latency_s=1.0, permit=cb.before_call(target))


def trip(cb: CircuitBreakers, target: str = TARGET) -> None:
    fail(cb, target, cb.policy.min_calls)
    assert not cb.before_call(target).allowed


def race(workers: list[CircuitBreakers], target: str) -> list[Permit]:
    """Every worker asks for the target at the same moment, each on its own thread."""
    barrier = threading.Barrier(len(workers))

    def ask(cb: CircuitBreakers) -> Permit:
        barrier.wait()
        return cb.before_call(target)

    with ThreadPoolExecutor(max_workers=len(workers)) as pool:
        return list(pool.map(ask, workers))


def test_a_closed_circuit_lets_calls_through_without_probes(
    client: redis.Redis, keys: Keys
) -> None:
    permit = breakers(client, keys, None).before_call(TARGET)
    assert permit == Permit(target=TARGET, allowed=True, state=CircuitState.CLOSED)


def test_failing_calls_up_to_the_minimum_open_the_circuit_and_say_so(
    client: redis.Redis, keys: Keys, clock: Clock
) -> None:
    cb = breakers(client, keys, clock, min_calls=3, open_s=30)
    transitions = fail(cb, times=3)
    assert transitions == [None, None, Transition(TARGET, CircuitState.CLOSED, CircuitState.OPEN)]
    clock.advance(10)
    refused = cb.before_call(TARGET)
    assert (refused.allowed, refused.state) == (False, CircuitState.OPEN)
    assert refused.retry_after_s == pytest.approx(20)


def test_failures_that_left_the_window_do_not_count(
    client: redis.Redis, keys: Keys, clock: Clock
) -> None:
    cb = breakers(client, keys, clock, min_calls=3, window_s=30)
    fail(cb, times=2)
    clock.advance(33.1)  # past the window plus one bucket width
    assert fail(cb, times=2) == [None, None]
    assert cb.before_call(TARGET).allowed
    assert cb.snapshot([TARGET])[TARGET].failures == 2


def test_a_failure_rate_over_the_minimum_of_calls_opens_the_circuit(
    client: redis.Redis, keys: Keys, clock: Clock
) -> None:
    cb = breakers(client, keys, clock, failure_rate=0.5, min_calls=10)
    succeed(cb, times=5)
    assert fail(cb, times=4) == [None] * 4  # 9 calls: below the minimum
    assert fail(cb) == [Transition(TARGET, CircuitState.CLOSED, CircuitState.OPEN)]


def test_two_percent_of_failures_keep_a_default_circuit_closed_at_any_volume(
    client: redis.Redis, keys: Keys, clock: Clock
) -> None:
    # The bare count of old (5 failures in 30 s) opened this circuit at its 250th call.
    cb = breakers(client, keys, clock)
    for _ in range(20):
        succeed(cb, times=49)
        assert fail(cb) == [None]
        clock.advance(0.5)
    status = cb.snapshot([TARGET])[TARGET]
    assert (status.state, status.failures) == (CircuitState.CLOSED, 20)


def test_a_high_failure_rate_below_the_minimum_of_calls_keeps_it_closed(
    client: redis.Redis, keys: Keys, clock: Clock
) -> None:
    cb = breakers(client, keys, clock, min_calls=10)
    assert fail(cb, times=9) == [None] * 9
    assert cb.before_call(TARGET).allowed


def test_uncounted_failures_neither_open_nor_count(
    client: redis.Redis, keys: Keys, clock: Clock
) -> None:
    cb = breakers(client, keys, clock, min_calls=2)
    for _ in range(5):
        permit = cb.before_call(TARGET)
        assert cb.record(TARGET, success=False, latency_s=0.1, permit=permit, counts=False) is None
    status = cb.snapshot([TARGET])[TARGET]
    assert (status.state, status.calls, status.failures) == (CircuitState.CLOSED, 0, 0)


def test_a_hold_refuses_calls_until_it_ends_and_counts_nothing(
    client: redis.Redis, keys: Keys, clock: Clock
) -> None:
    cb = breakers(client, keys, clock, min_calls=1)
    permit = cb.before_call(TARGET)
    held = cb.record(TARGET, success=False, latency_s=0.1, permit=permit, counts=False, hold_s=2)
    assert held is None
    clock.advance(0.5)
    refused = cb.before_call(TARGET)
    assert (refused.allowed, refused.held, refused.state) == (False, True, CircuitState.CLOSED)
    assert refused.retry_after_s == pytest.approx(1.5)
    clock.advance(1.5)
    assert cb.before_call(TARGET).allowed
    status = cb.snapshot([TARGET])[TARGET]
    assert (status.state, status.calls, status.failures) == (CircuitState.CLOSED, 0, 0)


def test_after_open_s_one_probe_goes_and_its_success_closes_and_clears_the_window(
    client: redis.Redis, keys: Keys, clock: Clock
) -> None:
    cb = breakers(client, keys, clock, min_calls=2, open_s=30)
    trip(cb)
    clock.advance(30)
    probe = cb.before_call(TARGET)
    assert (probe.allowed, probe.probe, probe.state) == (True, True, CircuitState.HALF_OPEN)
    assert probe.transition == Transition(TARGET, CircuitState.OPEN, CircuitState.HALF_OPEN)
    second = cb.before_call(TARGET)
    assert (second.allowed, second.transition) == (False, None)
    closed = cb.record(TARGET, success=True, latency_s=0.5, permit=probe)
    assert closed == Transition(TARGET, CircuitState.HALF_OPEN, CircuitState.CLOSED)
    status = cb.snapshot([TARGET])[TARGET]
    assert (status.state, status.calls, status.failures, status.opened_at) == (
        CircuitState.CLOSED,
        0,
        0,
        None,
    )
    assert fail(cb) == [None]  # a fresh window: one failure does not re-open it


def test_a_failed_probe_reopens_the_circuit_for_open_s_again(
    client: redis.Redis, keys: Keys, clock: Clock
) -> None:
    cb = breakers(client, keys, clock, min_calls=2, open_s=30)
    trip(cb)
    clock.advance(31)
    probe = cb.before_call(TARGET)
    reopened = cb.record(TARGET, success=False, latency_s=5.0, permit=probe)
    assert reopened == Transition(TARGET, CircuitState.HALF_OPEN, CircuitState.OPEN)
    clock.advance(29)
    assert not cb.before_call(TARGET).allowed
    clock.advance(1)
    assert cb.before_call(TARGET).probe


def test_an_uncounted_probe_failure_gives_the_slot_back(
    client: redis.Redis, keys: Keys, clock: Clock
) -> None:
    cb = breakers(client, keys, clock, min_calls=2, open_s=30)
    trip(cb)
    clock.advance(30)
    probe = cb.before_call(TARGET)
    assert cb.record(TARGET, success=False, latency_s=0.1, permit=probe, counts=False) is None
    again = cb.before_call(TARGET)
    assert (again.allowed, again.probe, again.transition) == (True, True, None)


def test_a_probe_never_recorded_frees_its_slot_after_probe_timeout(
    client: redis.Redis, keys: Keys, clock: Clock
) -> None:
    cb = breakers(client, keys, clock, min_calls=2, open_s=30, probe_timeout_s=60)
    trip(cb)
    clock.advance(30)
    assert cb.before_call(TARGET).probe  # its worker dies
    clock.advance(59)
    waiting = cb.before_call(TARGET)
    assert not waiting.allowed
    assert waiting.retry_after_s == pytest.approx(1)
    clock.advance(1)
    assert cb.before_call(TARGET).probe


@pytest.mark.parametrize("probes", [1, 2])
def test_racing_workers_get_exactly_the_half_open_probe_slots(
    redis_url: str, keys: Keys, clock: Clock, probes: int
) -> None:
    # Each thread has its own client, as separate workers would.
    clients = [redis.Redis.from_url(redis_url) for _ in range(8)]
    workers = [
        breakers(c, keys, clock, min_calls=1, open_s=30, half_open_probes=probes) for c in clients
    ]
    for round_number in range(20):
        target = model_target("alpha", f"race-{round_number}")
        trip(workers[0], target)
        clock.advance(30)
        permits = race(workers, target)
        assert sum(permit.allowed and permit.probe for permit in permits) == probes
        assert sum(permit.transition is not None for permit in permits) == 1
    for c in clients:
        c.close()


def test_snapshot_reports_window_counts_error_rate_latency_and_opening_time(
    client: redis.Redis, keys: Keys, clock: Clock
) -> None:
    cb = breakers(client, keys, clock, min_calls=2, open_s=30)
    for _ in range(3):
        cb.record(TARGET, success=True, latency_s=1.0, permit=cb.before_call(TARGET))
    cb.record(TARGET, success=False, latency_s=2.0, permit=cb.before_call(TARGET))
    status = cb.snapshot([TARGET])[TARGET]
    assert (status.state, status.calls, status.failures) == (CircuitState.CLOSED, 4, 1)
    assert status.error_rate == 0.25
    assert status.latency_s == pytest.approx(0.2 * 2.0 + 0.8 * 1.0)
    assert status.opened_at is None

    opened_at = clock.now + 1
    clock.advance(1)
    fail(cb, times=2)  # 3 of 6 calls failed: half
    status = cb.snapshot([TARGET])[TARGET]
    assert status.state is CircuitState.OPEN
    assert status.opened_at == pytest.approx(opened_at)
    assert status.open_until == pytest.approx(opened_at + 30)
    clock.advance(30)
    assert cb.snapshot([TARGET])[TARGET].state is CircuitState.HALF_OPEN


def test_snapshot_of_an_unknown_target_is_closed_and_empty(client: redis.Redis, keys: Keys) -> None:
    status = breakers(client, keys, None).snapshot(["model:alpha/never"])["model:alpha/never"]
    assert (status.state, status.calls, status.error_rate, status.latency_s) == (
        CircuitState.CLOSED,
        0,
        0.0,
        None,
    )


def test_open_targets_lists_open_circuits_but_not_half_open_ones(
    client: redis.Redis, keys: Keys, clock: Clock
) -> None:
    cb = breakers(client, keys, clock, min_calls=1, open_s=30)
    early, late, healthy = (model_target("alpha", name) for name in ("early", "late", "ok"))
    trip(cb, early)
    clock.advance(20)
    trip(cb, late)
    succeed(cb, healthy)
    clock.advance(10)  # early's open time is up: half-open
    assert cb.open_targets([early, late, healthy]) == {late}


def test_reset_closes_an_open_circuit(client: redis.Redis, keys: Keys, clock: Clock) -> None:
    cb = breakers(client, keys, clock, min_calls=1)
    trip(cb)
    assert cb.reset(TARGET) == Transition(TARGET, CircuitState.OPEN, CircuitState.CLOSED)
    assert cb.before_call(TARGET).allowed
    assert cb.reset(TARGET) is None


def test_circuits_run_on_the_redis_server_clock_without_an_injected_one(
    client: redis.Redis, keys: Keys
) -> None:
    cb = breakers(client, keys, None, min_calls=1, open_s=0.3)
    trip(cb)
    assert cb.open_targets([TARGET]) == {TARGET}
    time.sleep(0.35)
    assert cb.open_targets([TARGET]) == set()
    assert cb.before_call(TARGET).probe


def test_a_key_circuit_is_separate_from_its_model_circuit(
    client: redis.Redis, keys: Keys, clock: Clock
) -> None:
    cb = breakers(client, keys, clock, min_calls=1)
    trip(cb, "key:alpha/ALPHA_API_KEY")
    assert cb.before_call(TARGET).allowed


def test_recording_a_refused_permit_changes_nothing(
    client: redis.Redis, keys: Keys, clock: Clock
) -> None:
    cb = breakers(client, keys, clock, min_calls=1)
    trip(cb)
    refused = cb.before_call(TARGET)
    assert cb.record(TARGET, success=False, latency_s=0.0, permit=refused) is None
    assert cb.snapshot([TARGET])[TARGET].calls == 1
