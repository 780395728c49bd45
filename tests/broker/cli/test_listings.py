"""``cascade dead list`` and ``cascade usage`` print ids whole, one row a line, even in a
terminal (or pipe) narrower than the table: an id is copied from there into other commands."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime

import pytest
import redis

from broker.jobs import Attempt, AttemptOutcome, FailedResult, TargetRef
from broker.keys import Keys
from broker.store import JobStore
from routing.usage import index_period
from tests.broker.test_cli import cascade

pytestmark = pytest.mark.integration

_TARGET = TargetRef(provider="alpha", model="a1", model_id="alpha-small-1", tier="fast",
                    queue="fast.alpha")


@pytest.fixture()
def redis_url(redis_url: str) -> str:
    url = redis_url.rsplit("/", 1)[0] + "/14"
    redis.Redis.from_url(url).flushdb()
    return url


def _rows(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("│")]


def test_dead_list_prints_each_failed_jobs_whole_id_on_its_row(redis_url: str) -> None:
    job_id = f"nightly-report-{uuid.uuid4()}"
    now = datetime.now(UTC)
    attempt = Attempt(target=_TARGET, hop=0, number=1, started_at=now, duration_s=0.1,
                      outcome=AttemptOutcome.FAILED, error_class="InvalidRequest",
                      status_code=400)
    failed = FailedResult(job_id=job_id, error_class="InvalidRequest",
                          error_message="the provider refused the request: " + "x" * 60,
                          attempts=[attempt], finished_at=now)
    client = redis.Redis.from_url(redis_url)
    assert JobStore(client, Keys(), 3600).finish(job_id, failed)

    shown = cascade("dead", "list", redis_url=redis_url, columns=80)

    assert shown.returncode == 0, shown.stderr
    rows = _rows(shown.stdout)
    assert len(rows) == 1 and job_id in rows[0]
    assert "…" not in rows[0]


def test_usage_prints_each_batch_id_whole_on_its_row(redis_url: str) -> None:
    batch_id = f"batch_{uuid.uuid4().hex}"
    keys = Keys()
    client = redis.Redis.from_url(redis_url)
    client.hset(keys.usage("batch", batch_id, "all"), mapping={
        "scope": "batch", "name": batch_id, "period": "all", "cost_nanos": 1_234_567,
        "prompt_tokens": 1200, "completion_tokens": 300, "total_tokens": 1500, "jobs": 3,
    })
    client.sadd(
        keys.usage_index(index_period("all", datetime.now(UTC))),
        keys.usage("batch", batch_id, "all"),
    )

    shown = cascade("usage", redis_url=redis_url, columns=80)

    assert shown.returncode == 0, shown.stderr
    rows = _rows(shown.stdout)
    assert len(rows) == 1 and batch_id in rows[0]
    assert re.search(r"│ +1,500 +│", rows[0])
