"""GCRA rate limits in a real Redis: waits, token limits, and the per-minute promise under bursts
and many workers."""

from __future__ import annotations

import threading
import time
from bisect import bisect_left

import pytest
import redis
from pydantic import ValidationError

from broker.keys import Keys
from routing.rate_limit import RateLimitConfig, RateLimiter, emission_interval_us
from tests.routing.factories import Clock

BUCKET = "alpha/ALPHA_API_KEY"


def test_emission_interval_pays_for_a_burst_with_sustained_rate() -> None:
    assert emission_interval_us(60, 1) == 1_000_000
    assert emission_interval_us(600, 1) == 100_000
    assert emission_interval_us(60, 11) == 1_200_000  # 50 + the burst's first per minute
    assert emission_interval_us(60, 60) == 60_000_000
    with pytest.raises(ValueError):
        emission_interval_us(60, 61)


def test_config_refuses_a_burst_above_its_limit() -> None:
    with pytest.raises(ValidationError):
        RateLimitConfig(rpm=10, request_burst=11)
    assert RateLimitConfig().rpm is None


@pytest.mark.integration
def test_a_call_over_the_rate_gets_its_wait_and_is_not_charged(
    client: redis.Redis, keys: Keys, clock: Clock
) -> None:
    limiter = RateLimiter(client, keys, clock)
    assert limiter.acquire(BUCKET, rpm=60, tpm=None, tokens=0) == 0.0
    clock.advance(0.25)
    for _ in range(3):
        assert limiter.acquire(BUCKET, rpm=60, tpm=None, tokens=0) == pytest.approx(0.75)
    clock.advance(0.75)
    assert limiter.acquire(BUCKET, rpm=60, tpm=None, tokens=0) == 0.0


@pytest.mark.integration
def test_no_limits_never_wait(client: redis.Redis, keys: Keys, clock: Clock) -> None:
    limiter = RateLimiter(client, keys, clock)
    assert all(limiter.acquire(BUCKET, rpm=None, tpm=None, tokens=10**6) == 0.0 for _ in range(50))


@pytest.mark.integration
def test_tokens_per_minute_delay_the_next_call_by_the_tokens_spent(
    client: redis.Redis, keys: Keys, clock: Clock
) -> None:
    limiter = RateLimiter(client, keys, clock)
    # 6,000 tokens per minute is 100 per second: 250 tokens take 2.5 s to pay off.
    assert limiter.acquire(BUCKET, rpm=None, tpm=6000, tokens=250) == 0.0
    assert limiter.acquire(BUCKET, rpm=None, tpm=6000, tokens=10) == pytest.approx(2.5)
    clock.advance(2.5)
    assert limiter.acquire(BUCKET, rpm=None, tpm=6000, tokens=10) == 0.0


@pytest.mark.integration
def test_a_token_burst_lets_calls_go_at_once_up_to_the_burst(
    client: redis.Redis, keys: Keys, clock: Clock
) -> None:
    limiter = RateLimiter(client, keys, clock)
    config = RateLimitConfig(tpm=6000, token_burst=1000)
    assert [limiter.acquire_for(BUCKET, config, 100) for _ in range(10)] == [0.0] * 10
    interval_s = emission_interval_us(6000, 1000) / 1_000_000
    assert limiter.acquire_for(BUCKET, config, 100) == pytest.approx(100 * interval_s)


@pytest.mark.integration
def test_the_longer_of_request_and_token_waits_is_returned_and_neither_is_charged(
    client: redis.Redis, keys: Keys, clock: Clock
) -> None:
    limiter = RateLimiter(client, keys, clock)
    assert limiter.acquire(BUCKET, rpm=60, tpm=6000, tokens=300) == 0.0
    assert limiter.acquire(BUCKET, rpm=60, tpm=6000, tokens=1) == pytest.approx(3.0)
    clock.advance(1.0)  # the request slot is free, the tokens are not paid off
    assert limiter.acquire(BUCKET, rpm=60, tpm=6000, tokens=1) == pytest.approx(2.0)
    clock.advance(2.0)
    assert limiter.acquire(BUCKET, rpm=60, tpm=6000, tokens=1) == 0.0


@pytest.mark.integration
def test_buckets_are_separate(client: redis.Redis, keys: Keys, clock: Clock) -> None:
    limiter = RateLimiter(client, keys, clock)
    assert limiter.acquire("alpha/KEY_1", rpm=1, tpm=None, tokens=0) == 0.0
    assert limiter.acquire("alpha/KEY_2", rpm=1, tpm=None, tokens=0) == 0.0


def most_in_any_minute(grants_us: list[int]) -> int:
    grants_us = sorted(grants_us)
    return max(bisect_left(grants_us, start + 60_000_000) - i for i, start in enumerate(grants_us))


@pytest.mark.integration
@pytest.mark.parametrize("burst", [1, 10, 60])
def test_no_sixty_second_window_ever_exceeds_the_rpm_whatever_the_burst(
    client: redis.Redis, keys: Keys, clock: Clock, burst: int
) -> None:
    # Two workers greedily take every slot over four simulated minutes, every 200 ms.
    limiter = RateLimiter(client, keys, clock)
    grants: list[int] = []  # in microseconds, as the limiter sees the clock
    for _ in range(1200):
        for _worker in range(2):
            while limiter.acquire(BUCKET, rpm=60, tpm=None, tokens=0, request_burst=burst) == 0:
                grants.append(round(clock.now * 1_000_000))
        clock.advance(0.2)
    assert most_in_any_minute(grants) <= 60
    # The burst costs sustained rate, never more: (60 - burst + 1) per minute after the first.
    assert len(grants) >= burst + 3 * (60 - burst + 1)


@pytest.mark.integration
@pytest.mark.parametrize("burst", [1, 5])
def test_many_threads_sharing_a_key_stay_within_its_rate_in_real_time(
    redis_url: str, keys: Keys, burst: int
) -> None:
    # 600 rpm is one call per 100 ms; 8 threads in two "workers" (separate clients) for 3 s.
    clients = [redis.Redis.from_url(redis_url) for _ in range(2)]
    limiters = [RateLimiter(c, keys) for c in clients]
    granted: list[float] = []
    lock = threading.Lock()
    stop = time.monotonic() + 3.0

    def work(limiter: RateLimiter) -> None:
        while time.monotonic() < stop:
            wait = limiter.acquire(BUCKET, rpm=600, tpm=None, tokens=0, request_burst=burst)
            if wait == 0:
                with lock:
                    granted.append(time.monotonic())
            else:
                time.sleep(min(wait, 0.02))

    started = time.monotonic()
    threads = [threading.Thread(target=work, args=(limiters[i % 2],)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    interval_s = emission_interval_us(600, burst) / 1_000_000
    assert len(granted) <= elapsed / interval_s + burst
    assert len(granted) >= 0.8 * 3.0 / interval_s
    for c in clients:
        c.close()


@pytest.mark.integration
def test_many_threads_stay_within_tokens_per_minute_up_to_one_call_of_overdraft(
    redis_url: str, keys: Keys
) -> None:
    client = redis.Redis.from_url(redis_url)
    limiter = RateLimiter(client, keys)
    spent: list[int] = []
    lock = threading.Lock()
    stop = time.monotonic() + 2.0

    def work() -> None:
        while time.monotonic() < stop:
            wait = limiter.acquire(BUCKET, rpm=None, tpm=60_000, tokens=50)
            if wait == 0:
                with lock:
                    spent.append(50)
            else:
                time.sleep(min(wait, 0.01))

    started = time.monotonic()
    threads = [threading.Thread(target=work) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    # 60,000 tpm is 1,000 tokens per second; a call bigger than the burst may overdraw once.
    assert sum(spent) <= elapsed * 1000 + 50
    assert sum(spent) >= 0.8 * 2.0 * 1000
    client.close()
