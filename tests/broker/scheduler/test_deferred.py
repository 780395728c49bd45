"""Jobs held for a cheaper price window on a real Redis, without workers: the submit script
defers them with their waiting-set entry, a release moves them into their waiting sets once
the window opens (and not before), and a job that ended while it waited is dropped."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
import redis
import yaml
from prometheus_client import CollectorRegistry

from broker.batches import Batches
from broker.catalog_file import load_catalog
from broker.client import CascadeClient
from broker.job_notes import job_notes
from broker.jobs import FailedResult
from broker.scheduler import DeferredJobs, Dispatcher, PickPolicy, SchedulerState
from broker.scheduler.deferred import DeferredRelease
from broker.scheduler.metrics import SchedulerCollector
from broker.settings import Settings
from tests.queued import queued, text

pytestmark = pytest.mark.integration

FIXTURE = Path(__file__).parents[2] / "fixtures" / "catalog.yaml"
QUEUE = "fast.alpha"
PROMPT = {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 10}
# the window opens an hour after the test starts, for two hours, at half a1's price
OPENS = (datetime.now(UTC) + timedelta(hours=1)).replace(microsecond=0)


@pytest.fixture()
def client(redis_url: str, tmp_path: Path) -> Iterator[CascadeClient]:
    data: dict[str, Any] = yaml.safe_load(FIXTURE.read_text())
    ends = OPENS + timedelta(hours=2)
    data["models"][0]["price_windows"] = [
        {"start": OPENS.strftime("%H:%M:%S"), "end": ends.strftime("%H:%M:%S"), "multiplier": 0.5}
    ]
    path = tmp_path / "catalog.yaml"
    path.write_text(yaml.safe_dump(data))
    url = redis_url.rsplit("/", 1)[0] + "/2"
    redis.Redis.from_url(url).flushdb()
    settings = Settings(redis_url=url, config=str(path), profile="emulated")
    made = CascadeClient(settings, load_catalog(str(path), "emulated"))
    yield made
    made.redis.flushdb()
    made.close()


def submit(client: CascadeClient, job_id: str, **envelope: Any) -> None:
    envelope.setdefault("deadline", (datetime.now(UTC) + timedelta(days=1)).isoformat())
    client.submit_many([{"needs": {"tier": "fast"}, "request": PROMPT,
                         "envelope": {"id": job_id, **envelope}}])


def waiting(client: CascadeClient, priority: str = "bulk") -> list[tuple[str, float]]:
    key = client.keys.sched_waiting(QUEUE, priority, "default")
    found = cast(list[tuple[bytes, float]], client.redis.zrange(key, 0, -1, withscores=True))
    return [(text(item), score) for item, score in found]


def test_a_deferrable_job_is_deferred_until_its_window_with_the_entry_it_will_take(
    client: CascadeClient,
) -> None:
    submit(client, "later", priority="bulk")

    assert waiting(client) == []  # not pickable
    assert client.redis.zscore(client.keys.sched_deferred(QUEUE), "later") == OPENS.timestamp()
    entry = client.redis.hget(client.keys.sched_deferred_entries(QUEUE), "later")
    level, tenant, score = text(entry).split(" ")
    assert (level, tenant) == ("bulk", "default") and float(score) > OPENS.timestamp()
    assert queued(client.redis, QUEUE) == 1  # its message waits with the others
    notes = job_notes(client.redis, client.keys, "later")
    assert notes["offpeak"].startswith("waits for the off-peak window at ")
    assert notes["not_before"] == OPENS.isoformat()
    assert DeferredJobs(client.redis, client.keys).counts([QUEUE]) == {
        QUEUE: (1, OPENS.timestamp())}


def test_a_release_moves_only_the_jobs_whose_window_opened(client: CascadeClient) -> None:
    submit(client, "later", priority="bulk")
    deferred = DeferredJobs(client.redis, client.keys)

    assert deferred.release(QUEUE, now=OPENS.timestamp() - 1) == (0, OPENS.timestamp())
    released, head = deferred.release(QUEUE, now=OPENS.timestamp())

    assert (released, head) == (1, None)
    (job_id, score), = waiting(client)
    deadline = json.loads(text(client.redis.hget(client.keys.job("later"), "job")))["envelope"]
    assert job_id == "later" and score == pytest.approx(
        datetime.fromisoformat(deadline["deadline"]).timestamp())
    assert client.redis.exists(client.keys.sched_deferred(QUEUE)) == 0
    assert client.redis.exists(client.keys.sched_deferred_entries(QUEUE)) == 0


def test_an_interactive_job_and_one_without_deadline_are_not_deferred(
    client: CascadeClient,
) -> None:
    submit(client, "now", priority="interactive")
    client.submit_many([{"needs": {"tier": "fast"}, "request": PROMPT,
                         "envelope": {"id": "no-deadline"}}])

    assert [job for job, _ in waiting(client, "interactive")] == ["now"]
    assert [job for job, _ in waiting(client, "standard")] == ["no-deadline"]
    assert client.redis.zcard(client.keys.sched_deferred(QUEUE)) == 0
    notes = job_notes(client.redis, client.keys, "now")
    assert notes == {"offpeak": "runs now: interactive jobs never wait for a price window"}


def test_a_top_up_before_the_window_opens_moves_nothing(client: CascadeClient) -> None:
    submit(client, "later", priority="bulk")
    policy = PickPolicy(every=10, weights={})
    dispatcher = Dispatcher(client.redis, client.keys, [QUEUE], depth=8, policy=policy,
                            sweep_s=1)

    assert dispatcher.top_up(QUEUE) == 0
    assert client.redis.llen(QUEUE) == 0 and queued(client.redis, QUEUE) == 1


def test_a_job_that_ended_while_it_waited_is_dropped_with_its_message(
    client: CascadeClient,
) -> None:
    submit(client, "cancelled", priority="bulk")
    ended = FailedResult(job_id="cancelled", error_class="Cancelled", error_message="cancel",
                         attempts=[], tenant="default", finished_at=datetime.now(UTC))
    assert client.store.finish("cancelled", ended)

    assert DeferredJobs(client.redis, client.keys).release(QUEUE, OPENS.timestamp()) == (0, None)
    assert waiting(client) == [] and queued(client.redis, QUEUE) == 0


def test_a_cancelled_batch_waiting_for_its_window_never_reaches_the_queue(
    client: CascadeClient,
) -> None:
    batches = Batches(client)
    lines = [{"custom_id": f"r{i}", "method": "POST", "url": "/v1/chat/completions",
              "body": {"model": "fast", **PROMPT}} for i in range(3)]
    record = batches.submit(lines, completion_window="24h")
    assert client.redis.zcard(client.keys.sched_deferred(QUEUE)) == 3  # a 24 h window may wait

    batches.cancel(record.id)
    assert DeferredJobs(client.redis, client.keys).release(QUEUE, OPENS.timestamp()) == (0, None)

    assert queued(client.redis, QUEUE) == 0 and client.redis.llen(QUEUE) == 0


class _Counting(DeferredJobs):
    def __init__(self, due_at: float | None) -> None:
        self.looks: list[float] = []
        self.due_at = due_at

    def release(self, queue: str, now: float, limit: int = 1000) -> tuple[int, float | None]:
        self.looks.append(now)
        return 0, self.due_at


def test_a_dispatcher_looks_at_deferred_jobs_once_a_sweep_or_when_the_first_is_due() -> None:
    quiet = _Counting(due_at=None)
    timer = DeferredRelease(quiet, every_s=1.0)
    for now in (100.0, 100.2, 100.9, 101.0, 101.5, 102.1):
        timer.due(QUEUE, now)
    assert quiet.looks == [100.0, 101.0, 102.1]

    soon = _Counting(due_at=100.3)
    timer = DeferredRelease(soon, every_s=1.0)
    for now in (100.0, 100.2, 100.3, 100.4):
        timer.due(QUEUE, now)
    assert soon.looks == [100.0, 100.3, 100.4]


def test_metrics_count_the_jobs_waiting_for_a_price_window_per_queue(
    client: CascadeClient,
) -> None:
    submit(client, "later-1", priority="bulk")
    submit(client, "later-2", priority="standard")
    registry = CollectorRegistry()
    registry.register(SchedulerCollector(SchedulerState(client.redis, client.keys), [QUEUE]))

    labels = {"queue": QUEUE, "tier": "fast", "provider": "alpha"}
    assert registry.get_sample_value("cascade_price_window_jobs", labels) == 2
    assert registry.get_sample_value("cascade_scheduled_jobs", {
        **labels, "priority": "bulk", "tenant": "default"}) is None  # not waiting to be picked
