"""Hold instead of fail, end to end: jobs whose only target's circuit is open are accepted,
wait without a call while it is open, and are all answered once it closes: their looks come
when the circuit lets a probe through, and the jobs held behind the probe are released the
moment it closes, not when their hold timers run out. Real worker, real emulator, a private
Redis."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from broker.client import CascadeClient
from broker.jobs import CompletionResult
from broker.keys import Keys
from broker.local_stack import LocalStack
from broker.scheduler import HeldJobs
from routing.circuit import CircuitPolicy, CircuitState, model_target
from routing.circuit_store import CircuitBreakers
from routing.queues import all_queues
from tests.integration.support import FAST_ENV, Emulator, client_for, fresh_emulator

pytestmark = pytest.mark.integration

FIXTURE = Path(__file__).parents[1] / "fixtures" / "catalog.yaml"
PROMPT = {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 20}
OPEN_S = 3.0
CIRCUIT = {"failure_rate": 0.5, "min_calls": 2, "window_s": 30, "open_s": OPEN_S}


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> str:
    data: dict[str, Any] = yaml.safe_load(FIXTURE.read_text())
    data["providers"]["alpha"]["circuit"] = CIRCUIT
    path = tmp_path_factory.mktemp("hold") / "catalog.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


@pytest.fixture(scope="module")
def stack(catalog: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    logs = tmp_path_factory.mktemp("hold-logs")
    env = {**FAST_ENV, "CASCADE_HOLD_S": "0.5"}
    with LocalStack(config=catalog, log_dir=logs, extra_env=env) as s:
        s.start_redis()
        s.start_emulator()
        s.start_worker("alpha", concurrency=8)
        s.wait_for_workers()
        yield s


@pytest.fixture()
def emulator(stack: LocalStack) -> Iterator[Emulator]:
    with fresh_emulator(stack) as control:
        yield control


@pytest.fixture()
def client(stack: LocalStack, catalog: str) -> Iterator[CascadeClient]:
    with client_for(stack, catalog) as client:
        yield client


def open_circuit(client: CascadeClient) -> None:
    """Trip alpha/a1's model circuit as failed calls would (shared by every worker)."""
    breakers = CircuitBreakers(client.redis, Keys(), CircuitPolicy(**CIRCUIT))
    target = model_target("alpha", "a1")
    for _ in range(2):  # min_calls
        breakers.record(target, success=False, latency_s=0.01, permit=breakers.before_call(target))
    assert not breakers.before_call(target).allowed


def test_jobs_whose_only_target_is_circuit_open_are_held_and_answered_once_it_closes(
    client: CascadeClient, emulator: Emulator
) -> None:
    open_circuit(client)
    opened = time.monotonic()
    ids = [client.submit(PROMPT, model="a1", tenant="held") for _ in range(20)]

    time.sleep(OPEN_S / 2)
    assert client.store.results(ids) == {}  # waiting, not failed
    assert emulator.calls()["by_provider"] == {}  # and no call while the circuit is open
    held = HeldJobs(client.redis, Keys()).counts(all_queues(client.catalog))
    assert sum(held.values()) > 0  # held in the scheduler, where `cascade queues` counts them

    results = client.wait_many(ids, timeout=30)

    assert len(results) == 20
    assert all(isinstance(result, CompletionResult) for result in results.values())
    assert time.monotonic() - opened >= OPEN_S
    assert emulator.answered() == 20
    # a hold records no skip (a call the loaded machine made fail may have been retried)
    outcomes = [[a.outcome.value for a in result.attempts] for result in results.values()]
    assert not any("skipped" in kinds for kinds in outcomes), outcomes


def test_held_jobs_look_again_within_moments_of_their_circuit_closing_not_after_their_hold(
    catalog: str, tmp_path: Path
) -> None:
    # A hold timer (7 s) far longer than the circuit's open time (3 s): a job that waited for
    # its timer would be answered seconds after the circuit closed.
    env = {**FAST_ENV, "CASCADE_HOLD_S": "7"}
    with LocalStack(config=catalog, log_dir=tmp_path, extra_env=env) as stack:
        stack.start_redis()
        stack.start_emulator()
        stack.start_worker("alpha", concurrency=8)
        stack.wait_for_workers()
        emulator = Emulator(stack.emulator_url)
        # The probe takes a while, so that the other jobs' looks meet the circuit half-open
        # with its probe in flight, and are held again.
        emulator.latency(providers={"alpha": 0.5})
        with client_for(stack, catalog) as client:
            open_circuit(client)
            opened = time.monotonic()
            ids = [client.submit(PROMPT, model="a1", tenant="held") for _ in range(12)]
            breakers = CircuitBreakers(client.redis, Keys(), CircuitPolicy(**CIRCUIT))
            target = model_target("alpha", "a1")
            while breakers.snapshot([target])[target].state is not CircuitState.CLOSED:
                assert time.monotonic() - opened < 20, "the circuit never closed"
                time.sleep(0.05)
            closed = time.monotonic()
            results: dict[str, object] = {}
            while len(results) < len(ids) and time.monotonic() - closed < 20:
                results.update(client.store.results(ids))
                time.sleep(0.05)
            answered = time.monotonic()
            records = [client.store.hold_record(job_id) for job_id in ids]
        calls = emulator.answered()
    assert len(results) == len(ids)
    assert all(isinstance(result, CompletionResult) for result in results.values())
    # The first looks came when the circuit let a probe through, not after the 7 s timer...
    assert closed - opened < OPEN_S + 2.5, closed - opened
    # ...and the jobs held again behind the probe were answered moments after it closed.
    assert answered - closed < 2.5, answered - closed
    assert any(record is not None and record.count >= 2 for record in records), records
    assert calls == len(ids)
