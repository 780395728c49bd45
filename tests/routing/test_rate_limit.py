"""GCRA rate limits in a real Redis: waits, token limits, and the per-minute promise under bursts
and many workers."""

from __future__ import annotations

import threading
import time
from bisect import bisect_right

import pytest
import redis
from pydantic import ValidationError

from broker.keys import Keys
from routing.rate_limit import RateLimitConfig, RateLimiter, emission_interval_us
from tests.routing.factories import Clock

BUCKET = "alpha/ALPHA_API_KEY"


def test_emission_interval_pays_for_a_burst_with_sustained_rate() -> None:
    # One microsecond over the exact quotient: L + 1 grants span strictly more than W + G.
    assert emission_interval_us(60, 1) == 1_000_001
    assert emission_interval_us(600, 1) == 100_001
    assert emission_interval_us(60, 11) == 1_200_001  # 50 + the burst's first per minute
    assert emission_interval_us(60, 60) == 60_000_001
    assert emission_interval_us(60, 1, guard_s=0.6) == 1_010_001
    assert emission_interval_us(6, 1, window_s=1, guard_s=0.2) == 200_001
    with pytest.raises(ValueError):
        emission_interval_us(60, 61)


def test_config_refuses_a_burst_above_its_limit() -> None:
    with pytest.raises(ValidationError):
        RateLimitConfig(rpm=10, request_burst=11)
    with pytest.raises(ValidationError, match="guard_s 1.0 must be below window_s 1.0"):
        RateLimitConfig(rpm=6, window_s=1, guard_s=1)
    assert RateLimitConfig().rpm is None
    assert (RateLimitConfig().window_s, RateLimitConfig().guard_s) == (60, 0.5)


@pytest.mark.integration
def test_a_call_over_the_rate_gets_its_wait_and_is_not_charged(
    client: redis.Redis, keys: Keys, clock: Clock
) -> None:
    limiter = RateLimiter(client, keys, clock)
    assert limiter.acquire(BUCKET, rpm=60, tpm=None, tokens=0) == 0.0
    clock.advance(0.25)
    for _ in range(3):
        assert limiter.acquire(BUCKET, rpm=60, tpm=None, tokens=0) == pytest.approx(0.75, abs=1e-5)
    clock.advance(0.76)
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
    assert limiter.acquire(BUCKET, rpm=None, tpm=6000, tokens=10) == pytest.approx(2.5, abs=1e-3)
    clock.advance(2.51)
    assert limiter.acquire(BUCKET, rpm=None, tpm=6000, tokens=10) == 0.0


@pytest.mark.integration
def test_a_token_burst_lets_calls_go_at_once_up_to_the_burst(
    client: redis.Redis, keys: Keys, clock: Clock
) -> None:
    limiter = RateLimiter(client, keys, clock)
    config = RateLimitConfig(tpm=6000, token_burst=1000)
    assert [limiter.acquire_for(BUCKET, config, 100) for _ in range(10)] == [0.0] * 10
    interval_us = emission_interval_us(6000, 1000, window_s=60, guard_s=config.guard_s)
    interval_s = interval_us / 1_000_000
    assert limiter.acquire_for(BUCKET, config, 100) == pytest.approx(100 * interval_s)


@pytest.mark.integration
def test_the_longer_of_request_and_token_waits_is_returned_and_neither_is_charged(
    client: redis.Redis, keys: Keys, clock: Clock
) -> None:
    limiter = RateLimiter(client, keys, clock)
    assert limiter.acquire(BUCKET, rpm=60, tpm=6000, tokens=300) == 0.0
    assert limiter.acquire(BUCKET, rpm=60, tpm=6000, tokens=1) == pytest.approx(3.0, abs=1e-3)
    clock.advance(1.0)  # the request slot is free, the tokens are not paid off
    assert limiter.acquire(BUCKET, rpm=60, tpm=6000, tokens=1) == pytest.approx(2.0, abs=1e-3)
    clock.advance(2.01)
    assert limiter.acquire(BUCKET, rpm=60, tpm=6000, tokens=1) == 0.0


@pytest.mark.integration
def test_buckets_are_separate(client: redis.Redis, keys: Keys, clock: Clock) -> None:
    limiter = RateLimiter(client, keys, clock)
    assert limiter.acquire("alpha/KEY_1", rpm=1, tpm=None, tokens=0) == 0.0
    assert limiter.acquire("alpha/KEY_2", rpm=1, tpm=None, tokens=0) == 0.0


def most_in_any_window(grants_us: list[int], window_us: int = 60_000_000) -> int:
    """The most grants in any window of ``window_us`` closed at both ends, as a provider that
    counts a call at 0 s and one at 60 s as the same minute's would see them."""
    grants_us = sorted(grants_us)
    return max(bisect_right(grants_us, start + window_us) - i for i, start in enumerate(grants_us))


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
    assert most_in_any_window(grants) <= 60
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


@pytest.mark.integration
def test_calls_granted_on_the_dot_never_put_limit_plus_one_in_a_closed_window(
    client: redis.Redis, keys: Keys, clock: Clock
) -> None:
    # Asking again exactly when told, 60 rpm granted calls exactly one second apart: the first
    # and the 61st exactly 60 s apart, both inside one window closed at both ends.
    limiter = RateLimiter(client, keys, clock)
    grants: list[int] = []
    while len(grants) < 150:
        wait = limiter.acquire(BUCKET, rpm=60, tpm=None, tokens=0)
        if wait == 0:
            grants.append(round(clock.now * 1_000_000))
        clock.advance(wait)
    assert most_in_any_window(grants) == 60


@pytest.mark.integration
def test_the_guard_keeps_limit_plus_one_grants_further_apart_than_window_plus_guard(
    client: redis.Redis, keys: Keys, clock: Clock
) -> None:
    # 6 per second with a 0.2 s guard, asked every millisecond by two workers for 5 s: a call
    # may take up to 0.2 s longer than another to reach the provider, and still no window of
    # one second there holds 7.
    config = RateLimitConfig(rpm=6, window_s=1, guard_s=0.2, request_burst=2)
    limiter = RateLimiter(client, keys, clock)
    grants: list[float] = []
    for _ in range(5000):
        for _worker in range(2):
            if limiter.acquire_for(BUCKET, config, 0) == 0:
                grants.append(clock.now)
        clock.advance(0.001)
    spans = [later - first for first, later in zip(grants, grants[6:], strict=False)]
    assert min(spans) > 1.2
    assert len(grants) >= 2 + 4.8 / 0.24  # the rate the guard leaves: 5 per 1.2 s
