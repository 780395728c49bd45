"""The webhook dispatcher against a real Redis and real local receivers: fair across tenants,
woken by events rather than polling, given-up deliveries kept small and replayable."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis

from broker.keys import Keys
from broker.webhooks import (
    DeliveryPolicy,
    FailedDeliveries,
    NotReplayed,
    WebhookDispatcher,
    WebhookRegistry,
    verify_signature,
)
from tests.broker.webhooks.receivers import Receiver
from tests.integration.support import wait_for
from tests.redis_writes import count_writes

pytestmark = pytest.mark.integration

SECRETS = {"acme": "whsec-acme", "globex": "whsec-globex"}


@pytest.fixture()
def client(redis_url: str) -> Iterator[redis.Redis]:
    connection = redis.Redis.from_url(redis_url.rsplit("/", 1)[0] + "/11")
    yield connection
    connection.close()


@pytest.fixture()
def keys(client: redis.Redis) -> Iterator[Keys]:
    # A prefix of its own: keys and pub/sub channels apart from every other test's.
    found = Keys(f"wh{uuid.uuid4().hex[:8]}")
    yield found
    for key in client.scan_iter(f"{found.prefix}:*", count=1000):
        client.delete(key)


@pytest.fixture(autouse=True)
def allow_local_receivers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CASCADE_WEBHOOK_ALLOW", "127.0.0.1/32")


class Subjects:
    """Stand-ins for jobs: a subject has ended once ``end`` set its marker, which also
    publishes the job event a worker's finish script publishes."""

    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        self.client = client
        self.keys = keys

    def end(self, job_id: str) -> None:
        self.client.set(f"{self.keys.prefix}:test:ended:job:{job_id}", "1")
        self.client.publish(
            self.keys.events_channel(), json.dumps({"job_id": job_id, "status": "succeeded"})
        )

    def payload_for(self, subject: str) -> tuple[str, dict[str, Any]] | None:
        if not self.client.exists(f"{self.keys.prefix}:test:ended:{subject}"):
            return None
        return "job.completed", {"type": "job.completed", "subject": subject}


@pytest.fixture()
def subjects(client: redis.Redis, keys: Keys) -> Subjects:
    return Subjects(client, keys)


@pytest.fixture()
def running(
    client: redis.Redis, keys: Keys, subjects: Subjects
) -> Iterator[Callable[..., WebhookDispatcher]]:
    started: list[tuple[threading.Thread, threading.Event]] = []

    def start(**options: Any) -> WebhookDispatcher:
        dispatcher = WebhookDispatcher(
            client, keys, payload_for=subjects.payload_for, secrets=SECRETS, **options
        )
        started.append(dispatcher.start_thread())
        return dispatcher

    yield start
    for thread, stop in started:
        stop.set()
        thread.join(timeout=15)


def test_one_tenants_backlog_to_a_slow_receiver_delays_another_tenants_webhook_little(
    client: redis.Redis, keys: Keys, subjects: Subjects, running: Callable[..., WebhookDispatcher]
) -> None:
    slow, fast = Receiver(delay_s=0.5), Receiver()
    registry = WebhookRegistry(client, keys, 3600)
    try:
        for n in range(1010):
            registry.watch(f"job:a-{n}", slow.url, "acme")
            subjects.end(f"a-{n}")
        running()
        wait_for(lambda: len(slow.received) >= 2, 10, "acme's deliveries under way")
        registry.watch("job:b-1", fast.url, "globex")
        subjects.end("b-1")
        ended = time.time()

        wait_for(lambda: fast.received, 20, "globex's delivery")

        assert fast.received[0].at - ended < 3.0
        assert len(slow.received) < 40  # acme's backlog was still being worked through
    finally:
        slow.close()
        fast.close()


def test_an_idle_dispatcher_watching_unfinished_jobs_sends_few_redis_commands(
    client: redis.Redis,
    keys: Keys,
    running: Callable[..., WebhookDispatcher],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    registry = WebhookRegistry(client, keys, 3600)
    for n in range(1010):
        registry.watch(f"job:pending-{n}", "http://127.0.0.1:9/hook", "acme")
    running()
    time.sleep(2.0)  # its first sweep, and the subscription

    sent = count_writes(monkeypatch)
    time.sleep(3.0)

    assert len(sent) / 3.0 < 20


def test_a_job_that_ends_is_delivered_at_once_not_at_the_next_sweep(
    client: redis.Redis, keys: Keys, subjects: Subjects, running: Callable[..., WebhookDispatcher]
) -> None:
    receiver = Receiver()
    try:
        running(policy=DeliveryPolicy(sweep_interval_s=600))
        WebhookRegistry(client, keys, 3600).watch("job:j-1", receiver.url, "acme")
        time.sleep(0.5)
        subjects.end("j-1")
        ended = time.time()

        wait_for(lambda: receiver.received, 5, "the delivery")

        assert receiver.received[0].at - ended < 1.0
        got = receiver.received[0]
        verify_signature(SECRETS["acme"], got.headers["X-Cascade-Signature"], got.body)
        assert json.loads(got.body) == {"type": "job.completed", "subject": "job:j-1"}
    finally:
        receiver.close()


def test_a_webhook_registered_after_its_job_ended_is_delivered_at_once(
    client: redis.Redis, keys: Keys, subjects: Subjects, running: Callable[..., WebhookDispatcher]
) -> None:
    receiver = Receiver()
    try:
        running(policy=DeliveryPolicy(sweep_interval_s=600))
        time.sleep(0.5)
        subjects.end("early")
        WebhookRegistry(client, keys, 3600).watch("job:early", receiver.url, "acme")

        wait_for(lambda: receiver.received, 3, "the delivery")
    finally:
        receiver.close()


def test_registering_an_internal_url_is_refused_and_writes_nothing(
    client: redis.Redis, keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CASCADE_WEBHOOK_ALLOW")
    registry = WebhookRegistry(client, keys, 3600)

    for url in ("http://127.0.0.1:6379/", "http://169.254.169.254/", "http://2130706433/"):
        with pytest.raises(ValueError):
            registry.watch("job:x", url, "acme")

    assert client.exists(keys.webhook("job:x"), keys.webhooks_watched()) == 0


def _given_up(
    client: redis.Redis, keys: Keys, subjects: Subjects,
    running: Callable[..., WebhookDispatcher], count: int, **policy: Any,
) -> tuple[Receiver, list[str]]:
    failing = Receiver(status=500)
    running(policy=DeliveryPolicy(max_attempts=2, base_backoff_s=0.05, **policy))
    registry = WebhookRegistry(client, keys, 3600)
    for n in range(count):
        registry.watch(f"job:f-{n}", failing.url, "acme")
        subjects.end(f"f-{n}")
    store = FailedDeliveries(client, keys, ttl_s=3600, max_kept=100)
    wait_for(lambda: len(failing.received) >= 2 * count, 20, "every attempt")
    wait_for(lambda: len(store.ids(100)) >= min(count, policy.get("failed_max", count)), 5)
    return failing, store.ids(100)


def test_a_given_up_delivery_keeps_no_body_and_expires(
    client: redis.Redis, keys: Keys, subjects: Subjects, running: Callable[..., WebhookDispatcher]
) -> None:
    failing, [delivery_id] = _given_up(client, keys, subjects, running, 1, failed_ttl_s=600)
    failing.close()

    record = client.hgetall(keys.webhook_delivery(delivery_id))
    assert b"body" not in record
    assert record[b"subject"] == b"job:f-0" and record[b"attempts"] == b"2"
    assert record[b"last_error"] == b"HTTP 500"
    assert 0 < client.ttl(keys.webhook_delivery(delivery_id)) <= 600
    [listed] = FailedDeliveries(client, keys, ttl_s=600, max_kept=100).newest()
    assert (listed.id, listed.tenant, listed.url) == (delivery_id, "acme", failing.url)


def test_the_index_of_given_up_deliveries_keeps_only_the_newest(
    client: redis.Redis, keys: Keys, subjects: Subjects, running: Callable[..., WebhookDispatcher]
) -> None:
    failing, kept = _given_up(client, keys, subjects, running, 5, failed_max=2)
    failing.close()

    assert len(kept) == 2
    leftovers = list(client.scan_iter(keys.webhook_delivery("*")))
    assert sorted(leftovers) == sorted(keys.webhook_delivery(i).encode() for i in kept)


def test_a_replayed_delivery_is_sent_again_with_its_id_and_a_rebuilt_body(
    client: redis.Redis, keys: Keys, subjects: Subjects, running: Callable[..., WebhookDispatcher]
) -> None:
    failing, [delivery_id] = _given_up(client, keys, subjects, running, 1)
    failing.status = 204
    store = FailedDeliveries(client, keys, ttl_s=3600, max_kept=100)
    try:
        store.replay(delivery_id, subjects.payload_for, now=time.time(), ttl_s=3600)

        wait_for(lambda: len(failing.received) == 3, 5, "the replay")
        replayed = failing.received[-1]
        assert replayed.headers["X-Cascade-Delivery"] == delivery_id
        assert json.loads(replayed.body) == {"type": "job.completed", "subject": "job:f-0"}
        wait_for(lambda: not client.exists(keys.webhook_delivery(delivery_id)), 5)
        assert store.ids(10) == []
        with pytest.raises(NotReplayed, match="no failed delivery"):
            store.replay(delivery_id, subjects.payload_for, now=time.time(), ttl_s=3600)
    finally:
        failing.close()


def test_a_registered_public_name_that_now_resolves_to_loopback_is_given_up_uncalled(
    client: redis.Redis, keys: Keys, subjects: Subjects,
    running: Callable[..., WebhookDispatcher], monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CASCADE_WEBHOOK_ALLOW")
    receiver = Receiver()
    try:
        running(resolver=lambda host, port: ["127.0.0.1"])  # rebound since it was registered
        WebhookRegistry(client, keys, 3600).watch(
            "job:r-1", f"http://hooks.example.com:{receiver.port}/hook", "acme"
        )
        subjects.end("r-1")
        store = FailedDeliveries(client, keys, ttl_s=3600, max_kept=100)

        wait_for(lambda: store.ids(10), 5, "the delivery given up")

        [failed] = store.newest()
        assert failed.attempts == 1 and "loopback" in failed.last_error
        assert receiver.received == []
    finally:
        receiver.close()


def test_another_tenants_webhook_is_not_held_back_by_many_unfinished_watched_jobs(
    client: redis.Redis, keys: Keys, subjects: Subjects, running: Callable[..., WebhookDispatcher]
) -> None:
    receiver = Receiver()
    registry = WebhookRegistry(client, keys, 3600)
    try:
        for n in range(1010):
            registry.watch(f"job:waiting-{n}", receiver.url, "acme")
        running()
        registry.watch("job:b-2", receiver.url, "globex")
        subjects.end("b-2")

        wait_for(lambda: receiver.received, 5, "globex's delivery")

        assert json.loads(receiver.received[0].body)["subject"] == "job:b-2"
    finally:
        receiver.close()
