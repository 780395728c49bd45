"""Tenants over the HTTP API, on a real Redis: an id one tenant holds is never another's to
write, read or register a webhook for, and an id that spells another key is refused, not a 500.
The app runs in-process; no worker is needed, since nothing here has to run."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from starlette.testclient import TestClient

from broker.catalog_file import load_catalog
from broker.client import CascadeClient
from broker.http_api.app import create_app
from broker.http_api.tenants import TenantDirectory
from broker.settings import Settings
from tests.queued import queued

pytestmark = pytest.mark.integration

CATALOG = str(Path(__file__).parents[2] / "fixtures" / "catalog.yaml")
A = {"Authorization": "Bearer sk-acme"}
B = {"Authorization": "Bearer sk-globex"}
PROMPT = {"messages": [{"role": "user", "content": "Hi"}]}


@pytest.fixture()
def api(redis_url: str) -> Iterator[TestClient]:
    url = redis_url.rsplit("/", 1)[0] + "/12"
    redis.Redis.from_url(url).flushdb()
    settings = Settings(redis_url=url, config=CATALOG, profile="emulated")
    client = CascadeClient(settings, load_catalog(CATALOG, "emulated"))
    tenants = TenantDirectory.from_keys({"acme": ["sk-acme"], "globex": ["sk-globex"]})
    with TestClient(create_app(client, tenants, webhooks=False)) as test_client:
        yield test_client
    client.redis.flushdb()
    client.close()


def submit(api: TestClient, headers: dict[str, str], **extra: Any) -> Any:
    body = {"needs": {"tier": "fast"}, "request": PROMPT, **extra}
    return api.post("/v1/jobs", json=body, headers=headers)


def redis_of(api: TestClient) -> redis.Redis:
    found: redis.Redis = api.app.state.cascade.client.redis  # type: ignore[attr-defined]
    return found


def test_another_tenant_reusing_a_job_id_gets_409_and_the_first_webhook_stays(
    api: TestClient,
) -> None:
    first = submit(api, A, envelope={"id": "order-1"}, webhook_url="https://a.example/hook")
    assert first.status_code == 202

    second = submit(api, B, envelope={"id": "order-1"}, webhook_url="https://b.example/hook")

    assert second.status_code == 409
    assert second.json()["error"]["param"] == "envelope.id"
    assert second.json()["error"]["code"] == "id_conflict"
    hook = redis_of(api).hgetall("cascade:webhook:job:order-1")
    assert hook == {b"url": b"https://a.example/hook", b"tenant": b"acme"}
    assert api.get("/v1/jobs/order-1", headers=A).json()["status"] == "queued"
    assert api.get("/v1/jobs/order-1", headers=B).status_code == 404
    assert queued(redis_of(api), "fast.alpha") == 1


@pytest.mark.parametrize("suffix", [":result", ":attempts", ":jobs", ":custom_ids"])
def test_an_id_spelling_another_jobs_key_is_a_400_naming_envelope_id_and_never_a_500(
    api: TestClient, suffix: str
) -> None:
    assert submit(api, A, envelope={"id": "order-2"}).status_code == 202

    refused = submit(api, B, envelope={"id": f"order-2{suffix}"})

    assert refused.status_code == 400
    assert refused.json()["error"]["message"].startswith("envelope.id: ")
    assert api.get(f"/v1/jobs/order-2{suffix}", headers=A).status_code == 404
    waited = api.post("/v1/jobs/wait", json={"ids": [f"order-2{suffix}"]}, headers=A)
    assert waited.status_code == 404
    assert api.get(f"/v1/batches/order-2{suffix}", headers=A).status_code == 404
    assert api.get("/v1/jobs/order-2", headers=A).json()["status"] == "queued"


def test_a_job_naming_a_batch_from_outside_is_refused_and_no_batch_counter_moves(
    api: TestClient,
) -> None:
    line = {"custom_id": "r1", "method": "POST", "url": "/v1/chat/completions",
            "body": {"model": "fast", **PROMPT}}
    upload = api.post(
        "/v1/files",
        headers=A,
        data={"purpose": "batch"},
        files={"file": ("in.jsonl", json.dumps(line).encode())},
    )
    batch = api.post(
        "/v1/batches",
        headers=A,
        json={"input_file_id": upload.json()["id"], "endpoint": "/v1/chat/completions",
              "completion_window": "24h"},
    ).json()
    before = redis_of(api).hgetall(f"cascade:batch:{batch['id']}")

    for headers in (A, B):
        refused = submit(api, headers, envelope={"batch_id": batch["id"]})
        assert refused.status_code == 400
        assert refused.json()["error"]["param"] == "envelope.batch_id"

    assert redis_of(api).hgetall(f"cascade:batch:{batch['id']}") == before
    assert queued(redis_of(api), "fast.alpha") == 1
