"""``POST /v1/provider-webhooks/{provider}`` in process over a real Redis: a signed batch event
makes the record holding that provider batch due now and wakes the pollers; a bad, stale or
unsigned delivery is refused with 400 naming the header and writes nothing; a webhook-id
already taken in (a replay, or the provider's retry) is acknowledged and does nothing.

Headers and body as OpenAI sends them (platform.openai.com/docs/guides/webhooks, Standard
Webhooks; openai-python's ``types/webhooks/batch_completed_webhook_event.py``)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml
from starlette.testclient import TestClient

from adapters.batch_api.webhooks import signed_headers
from broker.catalog_file import load_catalog
from broker.client import CascadeClient
from broker.http_api import TenantDirectory, create_app
from broker.keys import Keys
from broker.offload.state import OffloadState
from broker.settings import Settings
from tests.broker.http_api.conftest import CATALOG

SECRET = "whsec_Y2FzY2FkZS10ZXN0LXdlYmhvb2stc2VjcmV0LTMyYiE="
URL = "/v1/provider-webhooks/alpha"
_DB = 11


@pytest.fixture
def catalog(tmp_path: Path) -> str:
    data: dict[str, Any] = yaml.safe_load(Path(CATALOG).read_text())
    data["providers"]["alpha"]["batch"] = {
        "max_bytes": 1_000_000, "webhook_secret_env": "ALPHA_WEBHOOK_SECRET"}
    data["providers"]["beta"]["batch"] = {"max_bytes": 1_000_000}  # polled only
    path = tmp_path / "catalog.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


@pytest.fixture
def http(
    catalog: str, api_redis: redis.Redis, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[TestClient]:
    monkeypatch.setenv("ALPHA_WEBHOOK_SECRET", SECRET)
    settings = Settings(redis_url=f"{redis_url.rsplit('/', 1)[0]}/{_DB}", config=catalog,
                        profile="emulated", emulator_url="http://127.0.0.1:9")
    loaded = load_catalog(catalog, "emulated", emulator_url=settings.emulator_url)
    with closing(CascadeClient(settings, loaded)) as client:
        app = create_app(client, TenantDirectory.from_keys({"acme": ["sk-a"]}), webhooks=False)
        with TestClient(app, raise_server_exceptions=False) as made:
            yield made


@pytest.fixture
def state(api_redis: redis.Redis) -> OffloadState:
    """An open record holding provider batch ``batch_abc`` of alpha, next polled in an hour."""
    offload = OffloadState(api_redis, Keys())
    api_redis.sadd(offload.keys.offload_records(), "r1")
    api_redis.hset(offload.keys.offload_record("r1"), "provider", "alpha")
    offload.submitted("r1", "alpha", "batch_abc", time.time() + 3600)
    return offload


def event(kind: str = "batch.completed", batch_id: str = "batch_abc") -> bytes:
    return json.dumps({"id": "evt_1", "object": "event", "created_at": int(time.time()),
                       "type": kind, "data": {"id": batch_id}}).encode()


def post(http: TestClient, body: bytes, *, webhook_id: str = "wh_1", secret: str = SECRET,
         at: float | None = None, url: str = URL, **headers: str) -> Any:
    signed = signed_headers(secret, webhook_id, int(time.time() if at is None else at), body)
    return http.post(url, content=body, headers={**signed, **headers})


def test_a_signed_batch_event_makes_its_record_due_now_and_wakes_the_pollers(
    http: TestClient, state: OffloadState, api_redis: redis.Redis
) -> None:
    pubsub = api_redis.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(state.keys.offload_wake_channel())
    answer = post(http, event())
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"received": True, "outcome": "nudged", "batch_id": "batch_abc",
                             "type": "batch.completed"}
    assert state.due(time.time()) == ["r1"]
    assert state.record("r1")["webhook"] == "batch.completed"
    deadline = time.monotonic() + 2
    message = None
    while message is None and time.monotonic() < deadline:
        message = pubsub.get_message(timeout=0.2)  # the subscribe's own reply is skipped
    assert message is not None and message["data"] == b"r1"
    pubsub.close()


def test_a_webhook_id_taken_in_already_is_acknowledged_and_does_nothing(
    http: TestClient, state: OffloadState, api_redis: redis.Redis
) -> None:
    assert post(http, event()).json()["outcome"] == "nudged"
    state.schedule("r1", time.time() + 3600, "in_progress")
    replay = post(http, event())
    assert replay.status_code == 200
    assert replay.json()["outcome"] == "duplicate"
    assert state.due(time.time()) == []


@pytest.mark.parametrize(
    ("tamper", "param"),
    [
        ({"secret": "whsec_b3RoZXItc2VjcmV0"}, "webhook-signature"),
        ({"at": time.time() - 400}, "webhook-timestamp"),
        ({"webhook-signature": ""}, "webhook-signature"),
    ],
    ids=["another-secret", "older-than-five-minutes", "unsigned"],
)
def test_a_bad_or_stale_signature_is_refused_with_400_and_nothing_is_written(
    http: TestClient, state: OffloadState, api_redis: redis.Redis,
    tamper: dict[str, Any], param: str,
) -> None:
    before = api_redis.dbsize()
    answer = post(http, event(), **tamper)
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["param"] == param and error["code"] == "invalid_webhook"
    assert param in error["message"]
    assert api_redis.dbsize() == before
    assert state.due(time.time()) == []
    assert "webhook" not in state.record("r1")


def test_a_provider_that_takes_no_webhooks_is_a_404(
    http: TestClient, api_redis: redis.Redis
) -> None:
    for provider in ("beta", "nobody"):
        answer = post(http, event(), url=f"/v1/provider-webhooks/{provider}")
        assert answer.status_code == 404, provider
        assert provider in answer.json()["error"]["message"]
    assert api_redis.dbsize() == 0


def test_an_unknown_batch_and_other_event_types_are_acknowledged(
    http: TestClient, state: OffloadState
) -> None:
    unknown = post(http, event(batch_id="batch_not_ours"), webhook_id="wh_2")
    assert (unknown.status_code, unknown.json()["outcome"]) == (200, "unknown_batch")
    other = post(http, event(kind="response.completed"), webhook_id="wh_3")
    assert (other.status_code, other.json()["outcome"]) == (200, "ignored")
    assert state.due(time.time()) == []


def test_a_body_over_64_kib_is_refused_before_it_is_read(http: TestClient) -> None:
    answer = post(http, b"{" + b" " * 70_000 + b"}")
    assert answer.status_code == 413


def test_an_event_that_comes_before_its_batch_id_is_written_makes_the_record_due_once_it_is(
    http: TestClient, state: OffloadState, api_redis: redis.Redis
) -> None:
    # a provider batch that failed at once: its event can beat the poller's write of its id
    early = post(http, event(kind="batch.failed", batch_id="batch_new"), webhook_id="wh_9")
    assert early.json()["outcome"] == "unknown_batch"
    api_redis.sadd(state.keys.offload_records(), "r2")
    api_redis.hset(state.keys.offload_record("r2"), "provider", "alpha")
    state.submitted("r2", "alpha", "batch_new", time.time() + 3600)
    assert state.due(time.time()) == ["r2"]
    assert state.record("r2")["webhook"] == "batch.failed"
    assert not api_redis.exists(state.keys.offload_early_webhook("alpha", "batch_new"))


def test_a_batch_id_that_could_not_be_one_is_refused(http: TestClient) -> None:
    answer = post(http, event(batch_id="batch:../x" + "y" * 300), webhook_id="wh_10")
    assert answer.status_code == 400
    assert answer.json()["error"]["param"] == "data.id"
