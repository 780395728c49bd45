"""The disconnect script (broker/job_cancel.py) against a real Redis: a job no delivery holds
ends Cancelled at once with its attempts so far; a held one gets the flag its worker honours;
an ended job, or another tenant's, is left alone."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import redis

from broker.job_cancel import DISCONNECT_SCRIPT, disconnect_call
from broker.jobs import FailedResult
from broker.keys import Keys

KEYS = Keys(f"t{uuid.uuid4().hex[:8]}")
ATTEMPT = (
    '{"target":{"provider":"alpha","model":"a1","model_id":"m","tier":"fast","queue":"fast.alpha"},'
    '"hop":0,"number":1,"outcome":"retry","started_at":"2026-01-01T00:00:00Z","duration_s":0.1,'
    '"error_class":"ServerError","error_message":"500"}'
)


def _job(client: redis.Redis, tenant: str = "acme") -> str:
    job_id = uuid.uuid4().hex
    client.hset(KEYS.job(job_id), mapping={"tenant": tenant, "status": "queued"})
    return job_id


def _disconnect(client: redis.Redis, job_id: str, tenant: str = "acme") -> str:
    keys, args = disconnect_call(KEYS, 60, job_id, tenant, datetime.now(UTC))
    outcome = client.eval(DISCONNECT_SCRIPT, len(keys), *keys, *args)
    return outcome.decode() if isinstance(outcome, bytes) else str(outcome)


def test_a_job_no_delivery_holds_ends_cancelled_now_with_its_attempts(
    client: redis.Redis,
) -> None:
    job_id = _job(client)
    client.rpush(KEYS.attempts(job_id), ATTEMPT)
    waiter = client.pubsub()
    waiter.subscribe(KEYS.done_channel(job_id))
    waiter.get_message(timeout=1)

    assert _disconnect(client, job_id) == "cancelled"
    result = FailedResult.model_validate_json(client.get(KEYS.result(job_id)) or b"")
    assert result.error_class == "Cancelled" and "disconnected" in result.error_message
    assert [a.error_class for a in result.attempts] == ["ServerError"]
    assert client.hget(KEYS.job(job_id), "status") == b"failed"
    assert waiter.get_message(timeout=1) is not None  # waiters wake
    assert not client.exists(KEYS.job_cancel(job_id))


def test_a_job_a_delivery_holds_gets_the_flag_and_keeps_running(client: redis.Redis) -> None:
    job_id = _job(client)
    client.set(KEYS.claim(job_id), "worker-1", ex=60)

    assert _disconnect(client, job_id) == "flagged"
    assert client.exists(KEYS.job_cancel(job_id)) and 0 < client.ttl(KEYS.job_cancel(job_id))
    assert not client.exists(KEYS.result(job_id))


def test_an_ended_job_or_another_tenants_is_left_alone(client: redis.Redis) -> None:
    ended = _job(client)
    client.set(KEYS.result(ended), "{}")
    theirs = _job(client, tenant="other")

    assert _disconnect(client, ended) == "ended"
    assert _disconnect(client, theirs) == "unknown"
    assert client.get(KEYS.result(ended)) == b"{}"
    assert not client.exists(KEYS.result(theirs), KEYS.job_cancel(theirs))
