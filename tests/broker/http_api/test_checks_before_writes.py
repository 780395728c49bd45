"""A refused request writes nothing: every check runs before the first Redis write."""

from __future__ import annotations

import redis
from starlette.testclient import TestClient

from tests.broker.http_api.conftest import AUTH_A, batch_line, create_batch, job_body, upload


def _upload(api: TestClient, lines: list[str]) -> str:
    response = upload(api, ("\n".join(lines) + "\n").encode())
    assert response.status_code == 200, response.text
    file_id: str = response.json()["id"]
    return file_id


def test_a_job_with_a_gopher_webhook_is_refused_and_nothing_is_enqueued(
    api: TestClient, api_redis: redis.Redis
) -> None:
    response = api.post(
        "/v1/jobs", headers=AUTH_A, json=job_body(webhook_url="gopher://127.0.0.1:6379/_INFO")
    )

    assert response.status_code == 400
    assert response.json()["error"]["param"] == "webhook_url"
    assert api_redis.dbsize() == 0


def test_a_job_whose_webhook_url_is_not_a_string_is_refused_and_nothing_is_enqueued(
    api: TestClient, api_redis: redis.Redis
) -> None:
    response = api.post("/v1/jobs", headers=AUTH_A, json=job_body(webhook_url=["http://x"]))

    assert response.status_code == 400
    assert api_redis.dbsize() == 0


def test_a_job_with_an_http_webhook_is_queued_and_watched(
    api: TestClient, api_redis: redis.Redis
) -> None:
    response = api.post("/v1/jobs", headers=AUTH_A, json=job_body(webhook_url="https://x.test/h"))

    assert response.status_code == 202
    assert api_redis.zcard("cascade:webhooks:watched") == 1


def test_a_batch_with_a_file_webhook_is_refused_and_none_of_its_jobs_is_enqueued(
    api: TestClient, api_redis: redis.Redis
) -> None:
    file_id = _upload(api, [batch_line(f"r{i}") for i in range(20)])
    before = set(api_redis.keys())

    response = create_batch(api, file_id, metadata={"webhook_url": "file:///etc/passwd"})

    assert response.status_code == 400
    assert response.json()["error"]["param"] == "metadata.webhook_url"
    assert set(api_redis.keys()) == before


def test_a_batch_whose_metadata_is_not_strings_is_refused_and_nothing_is_enqueued(
    api: TestClient, api_redis: redis.Redis
) -> None:
    file_id = _upload(api, [batch_line("r1")])
    before = set(api_redis.keys())

    response = create_batch(api, file_id, metadata={"webhook_url": 7})

    assert response.status_code == 400
    assert response.json()["error"]["param"] == "metadata.webhook_url"
    assert set(api_redis.keys()) == before
