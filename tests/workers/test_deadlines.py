"""When a job is out of time before its call: a passed deadline, or one nearer than the
target's observed latency; the latencies are re-read at most once per max_age_s."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from broker.keys import Keys
from routing.latency import LatencyBook
from workers.deadlines import ExpectedLatency, too_late


def test_a_deadline_nearer_than_the_usual_latency_is_too_late_and_none_never_is() -> None:
    assert too_late(0.0, None) and too_late(0.5, 2.0)
    assert not too_late(3.0, 2.0) and not too_late(0.5, None)
    assert not too_late(None, 9.0)


@pytest.fixture()
def book(redis_url: str) -> Iterator[LatencyBook]:
    client = redis.Redis.from_url(redis_url.rsplit("/", 1)[0] + "/2")
    client.flushdb()
    yield LatencyBook(client, Keys())
    client.flushdb()
    client.close()


@pytest.mark.integration
def test_observed_latencies_are_read_once_per_max_age(book: LatencyBook) -> None:
    now = [100.0]
    expected = ExpectedLatency(book, max_age_s=1.0, clock=lambda: now[0])
    book.observe("alpha", "a1", 2.0)
    assert expected.of("alpha", "a1") == 2.0

    book.client.delete(Keys().latency())
    now[0] += 0.5
    assert expected.of("alpha", "a1") == 2.0  # still the kept reading
    now[0] += 0.5
    assert expected.of("alpha", "a1") is None
