"""Redis stays bounded: after many jobs and their result TTL, every key cascade left behind has a
TTL of its own or is one of a short, named list of keys bounded by the catalog's size.

A few hundred jobs (a fifth of them failing into the dead letters) run through real workers with
a result TTL of a few seconds; once it has passed, what is left under the prefix is checked.
Scoped to jobs, dead letters, usage, spend and circuits: webhook and batch keys are bounded
elsewhere. Runs on database 1 of the session's Redis (Celery's queue names carry no prefix).
"""

from __future__ import annotations

import fnmatch
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
import redis

from broker.catalog_file import load_catalog
from broker.client import CascadeClient
from broker.jobs import CompletionResult, FailedResult
from broker.local_stack import LocalStack
from broker.settings import Settings
from tests.integration.support import Emulator, stack_on_database

pytestmark = pytest.mark.integration

CATALOG = str(Path(__file__).parents[1] / "fixtures" / "catalog.yaml")
PROMPT = {"messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 20}
RESULT_TTL_S = 12
JOBS = 300

# Keys that may live without a TTL, each bounded by the catalog (not by traffic), and why.
# Extend it here when a new key of that kind is added.
BOUNDED_WITHOUT_TTL = {
    "cascade:circuit:*": "one per provider/model and per provider/key",
    "cascade:ratelimit:*": "one per provider/key",
    "cascade:keypool:*": "two per provider",
    "cascade:latency": "one field per provider/model",
    "cascade:sched:arrivals": "one counter",
    "cascade:sched:*:picks": "one counter per queue",
    "cascade:sched:*:passes": "one field per queue, priority and tenant",
}


@pytest.fixture(scope="module")
def stack(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with stack_on_database(
        redis_url,
        1,
        config=CATALOG,
        log_dir=tmp_path_factory.mktemp("bounded-logs"),
        workers={name: (name, 8) for name in ("alpha", "beta", "gamma")},
        env={"CASCADE_RESULT_TTL_S": str(RESULT_TTL_S)},
    ) as started:
        yield started


@pytest.fixture()
def client(stack: LocalStack) -> Iterator[CascadeClient]:
    settings = Settings(
        redis_url=stack.redis_url,
        config=CATALOG,
        profile="emulated",
        emulator_url=stack.emulator_url,
        result_ttl_s=RESULT_TTL_S,
    )
    catalog = load_catalog(CATALOG, "emulated", emulator_url=stack.emulator_url)
    with closing(CascadeClient(settings, catalog)) as client:
        yield client


def _left_behind(connection: redis.Redis) -> dict[str, int]:
    """Every key under the prefix and its TTL in seconds (-1: none)."""
    names = sorted(key.decode() for key in connection.scan_iter("cascade:*", count=1000))
    pipe = connection.pipeline(transaction=False)
    for name in names:
        pipe.ttl(name)
    return {
        name: ttl for name, ttl in zip(names, pipe.execute(), strict=True) if ttl != -2
    }


@pytest.mark.system
def test_after_many_jobs_and_their_result_ttl_every_key_left_has_a_ttl_or_a_bound(
    stack: LocalStack, client: CascadeClient
) -> None:
    emulator = Emulator(stack.emulator_url)
    emulator.reset()
    # A fifth of alpha's calls are refused as invalid: those jobs fail at once, as dead letters.
    emulator.faults(
        {
            "provider": "alpha",
            "kind": "status",
            "status": 400,
            "error_code": "invalid_value",
            "fraction": 0.2,
        }
    )
    ids = client.submit_many([{"needs": {"tier": "fast"}, "request": PROMPT}] * JOBS)
    results = client.wait_many(ids, timeout=RESULT_TTL_S - 2)
    assert len(results) == JOBS, "every job ends before its record expires"
    failed = [r for r in results.values() if isinstance(r, FailedResult)]
    answered = [r for r in results.values() if isinstance(r, CompletionResult)]
    assert failed and len(failed) + len(answered) == JOBS
    assert client.redis.zcard(client.keys.dead_letters()) == len(failed)
    # No call's mark outlives the call, answered or failed.
    assert list(client.redis.scan_iter("cascade:job:*:call")) == []

    time.sleep(RESULT_TTL_S + 1)
    left = _left_behind(client.redis)

    assert not [name for name in left if name.startswith("cascade:job:")], "records expire"
    # Every call's spend hold ended with its call: none waits out a TTL of its own.
    holds = [name for name in left if name.startswith("cascade:spend:hold:")]
    unbounded = sorted(
        name
        for name, ttl in left.items()
        if ttl < 0 and not any(fnmatch.fnmatchcase(name, p) for p in BOUNDED_WITHOUT_TTL)
    )
    assert (len(holds), unbounded) == (0, [])
    # Nothing in the dead letters points at a record that has expired.
    assert client.dead_letters() == []
    assert client.keys.dead_letters() not in left or client.redis.zcard(
        client.keys.dead_letters()
    ) == 0
