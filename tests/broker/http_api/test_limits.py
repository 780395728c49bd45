"""What a request may carry is bounded by settings: past a bound, a refusal that names the
bound and its setting, and nothing written."""

from __future__ import annotations

from typing import cast

import redis

from broker.keys import Keys
from tests.broker.http_api.conftest import (
    AUTH_A,
    ApiFactory,
    batch_line,
    create_batch,
    job_body,
    upload,
)


def test_an_upload_over_the_cap_is_a_413_naming_the_setting_and_nothing_is_stored(
    make_api: ApiFactory, api_redis: redis.Redis
) -> None:
    with make_api(api_max_upload_bytes=1000) as api:
        response = upload(api, b"x" * 200_000)

    assert response.status_code == 413
    assert "CASCADE_API_MAX_UPLOAD_BYTES" in response.json()["error"]["message"]
    assert api_redis.dbsize() == 0


def test_an_upload_just_over_the_cap_is_refused_and_one_at_the_cap_is_stored(
    make_api: ApiFactory, api_redis: redis.Redis
) -> None:
    with make_api(api_max_upload_bytes=1000) as api:
        over, at = upload(api, b"x" * 1001), upload(api, b"x" * 1000)

    assert (over.status_code, at.status_code) == (413, 200)
    assert at.json()["bytes"] == 1000
    # The one stored file and the tenant's index of files: nothing of the refused upload.
    keys = Keys()
    stored = {key.decode() for key in cast(list[bytes], api_redis.keys("*"))}
    assert stored == {keys.file(at.json()["id"]), keys.tenant_files("acme")}


def test_a_json_body_over_the_cap_is_a_413_and_nothing_is_enqueued(
    make_api: ApiFactory, api_redis: redis.Redis
) -> None:
    body = job_body()
    body["request"]["messages"][0]["content"] = "x" * 5000

    with make_api(api_max_body_bytes=4096) as api:
        response = api.post("/v1/jobs", headers=AUTH_A, json=body)

    assert response.status_code == 413
    assert "CASCADE_API_MAX_BODY_BYTES" in response.json()["error"]["message"]
    assert api_redis.dbsize() == 0


def _not_files(client: redis.Redis) -> list[bytes]:
    # Uploaded files and the tenant's index of them were written before the batch was tried.
    keys = cast(list[bytes], client.keys())
    uploads = (b"cascade:file:", Keys().tenant_files("acme").encode())
    return [key for key in keys if not key.startswith(uploads)]


def _create_batch(make_api: ApiFactory, content: bytes, **settings: int) -> tuple[int, str]:
    with make_api(**settings) as api:
        response = create_batch(api, upload(api, content).json()["id"])
    return response.status_code, response.json()["error"]["message"]


def test_a_batch_of_more_lines_than_allowed_is_refused_and_nothing_is_enqueued(
    make_api: ApiFactory, api_redis: redis.Redis
) -> None:
    content = "\n".join(batch_line(f"r{i}") for i in range(6)).encode()

    status, message = _create_batch(make_api, content, batch_max_lines=5)

    assert status == 400
    assert "CASCADE_BATCH_MAX_LINES" in message
    assert _not_files(api_redis) == []


def test_a_batch_line_that_is_not_utf8_is_refused_naming_its_line(
    make_api: ApiFactory, api_redis: redis.Redis
) -> None:
    lines = [batch_line(f"r{i}").encode() for i in range(3)]
    lines[1] = lines[1].replace(b"Hi", b"H\xffi")

    status, message = _create_batch(make_api, b"\n".join(lines))

    assert status == 400
    assert message.startswith("line 2: not valid UTF-8")
    assert _not_files(api_redis) == []
