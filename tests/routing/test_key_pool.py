"""A provider's API keys in rotation, shared through a real Redis; refused keys taken out."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
import redis

from broker.keys import Keys
from routing.key_pool import KeyPool, TakenOut

pytestmark = pytest.mark.integration

IDS = ("BETA_API_KEY", "BETA_API_KEY_2", "BETA_API_KEY_3")


def pool(client: redis.Redis, keys: Keys, at: float = 1234.5) -> KeyPool:
    return KeyPool(client, keys, "beta", IDS, clock=lambda: at)


def test_keys_take_turns(client: redis.Redis, keys: Keys) -> None:
    picks = [pool(client, keys).next_key() for _ in range(6)]
    assert Counter(picks) == {key_id: 2 for key_id in IDS}
    assert all(a != b for a, b in zip(picks, picks[1:], strict=False))


def test_workers_share_one_rotation(redis_url: str, keys: Keys) -> None:
    clients = [redis.Redis.from_url(redis_url) for _ in range(8)]
    pools = [pool(c, keys) for c in clients]
    picks: list[str | None] = []
    lock = threading.Lock()

    def work(worker_pool: KeyPool) -> None:
        for _ in range(30):
            key_id = worker_pool.next_key()
            with lock:
                picks.append(key_id)

    threads = [threading.Thread(target=work, args=(p,)) for p in pools]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert Counter(picks) == {key_id: 80 for key_id in IDS}
    for c in clients:
        c.close()


def test_a_taken_out_key_leaves_the_rotation_and_is_reported_with_reason_and_time(
    client: redis.Redis, keys: Keys
) -> None:
    keys_pool = pool(client, keys)
    assert keys_pool.take_out("BETA_API_KEY_2", "401 invalid_api_key")
    assert not keys_pool.take_out("BETA_API_KEY_2", "403 later")  # reported once, first reason
    assert {keys_pool.next_key() for _ in range(10)} == {"BETA_API_KEY", "BETA_API_KEY_3"}
    assert keys_pool.taken_out() == {"BETA_API_KEY_2": TakenOut("401 invalid_api_key", 1234.5)}
    # Another worker's pool sees the same.
    assert pool(client, keys).taken_out() == keys_pool.taken_out()


def test_the_remaining_keys_share_the_calls_evenly(client: redis.Redis, keys: Keys) -> None:
    keys_pool = pool(client, keys)
    keys_pool.take_out("BETA_API_KEY", "401")
    picks = Counter(keys_pool.next_key() for _ in range(10))
    assert picks == {"BETA_API_KEY_2": 5, "BETA_API_KEY_3": 5}


def test_with_every_key_taken_out_there_is_no_key(client: redis.Redis, keys: Keys) -> None:
    keys_pool = pool(client, keys)
    for key_id in IDS:
        keys_pool.take_out(key_id, "403 forbidden")
    assert keys_pool.next_key() is None


def test_a_restored_key_rejoins_the_rotation(client: redis.Redis, keys: Keys) -> None:
    keys_pool = pool(client, keys)
    for key_id in IDS:
        keys_pool.take_out(key_id, "401")
    assert keys_pool.restore("BETA_API_KEY_3")
    assert not keys_pool.restore("BETA_API_KEY_3")
    assert keys_pool.next_key() == "BETA_API_KEY_3"
    assert set(keys_pool.taken_out()) == {"BETA_API_KEY", "BETA_API_KEY_2"}


def test_taking_out_a_key_the_pool_lacks_is_refused(client: redis.Redis, keys: Keys) -> None:
    with pytest.raises(KeyError):
        pool(client, keys).take_out("GAMMA_API_KEY", "401")


def test_providers_have_separate_pools(client: redis.Redis, keys: Keys) -> None:
    pool(client, keys).take_out("BETA_API_KEY", "401")
    other = KeyPool(client, keys, "gamma", ["BETA_API_KEY"])
    assert other.next_key() == "BETA_API_KEY"
    assert other.taken_out() == {}


def test_only_key_ids_are_stored_never_a_secret(client: redis.Redis, keys: Keys) -> None:
    keys_pool = pool(client, keys)
    keys_pool.next_key()
    keys_pool.take_out("BETA_API_KEY", "401")
    stored = {name.decode() for name in client.scan_iter(match=f"{keys.prefix}:*")}
    assert stored == {keys.key_pool_cursor("beta"), keys.key_pool_out("beta")}
    assert set(client.hkeys(keys.key_pool_out("beta"))) == {b"BETA_API_KEY"}
