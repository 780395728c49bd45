"""Malformed input is a 400 naming what is wrong (never a 500), and writes nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest
import redis
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.testclient import TestClient
from structlog.testing import capture_logs

from tests.broker.http_api.conftest import (
    AUTH_A,
    ApiFactory,
    batch_line,
    create_batch,
    job_body,
    upload,
)

BODY_ROUTES = ["/v1/jobs", "/v1/jobs/wait", "/v1/chat/completions", "/v1/batches"]


def _refused(response: Any, *words: str) -> dict[str, Any]:
    assert response.status_code == 400, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    for word in words:
        assert word in error["message"], error["message"]
    return error


def _queued_job(api: TestClient) -> str:
    response = api.post("/v1/jobs", headers=AUTH_A, json=job_body())
    assert response.status_code == 202
    job_id: str = response.json()["id"]
    return job_id


@pytest.mark.parametrize("path", BODY_ROUTES)
def test_a_body_that_is_not_utf8_is_a_400_naming_utf8(
    api: TestClient, api_redis: redis.Redis, path: str
) -> None:
    response = api.post(path, headers=AUTH_A, content=b'{"needs": "\xff\xfe"}')

    _refused(response, "UTF-8")
    assert api_redis.dbsize() == 0


@pytest.mark.parametrize("path", BODY_ROUTES)
def test_json_nested_1000_deep_is_a_400_naming_the_nesting(
    api: TestClient, api_redis: redis.Redis, path: str
) -> None:
    deep = '{"request": ' + "[" * 1000 + "]" * 1000 + "}"

    response = api.post(path, headers=AUTH_A, content=deep.encode())

    _refused(response, "nested")
    assert api_redis.dbsize() == 0


def test_json_nested_past_the_configured_depth_is_refused_naming_where(
    make_api: ApiFactory, api_redis: redis.Redis
) -> None:
    body = job_body()
    body["request"]["metadata"] = {"a": json.loads("[" * 10 + "]" * 10)}

    with make_api(api_max_json_depth=8) as api:
        error = _refused(api.post("/v1/jobs", headers=AUTH_A, json=body), "deeper than 8")

    assert error["message"].startswith("body.request.metadata.a")
    assert api_redis.dbsize() == 0


@pytest.mark.parametrize("text", ["[]", '"job"', "null", "7"])
def test_a_body_that_is_not_an_object_is_a_400_naming_what_it_is(
    api: TestClient, text: str
) -> None:
    _refused(api.post("/v1/jobs", headers=AUTH_A, content=text.encode()), "must be a JSON object")


def test_a_lone_surrogate_escape_is_a_400_naming_the_field(
    api: TestClient, api_redis: redis.Redis
) -> None:
    text = json.dumps(job_body()).replace('"Hi"', '"\\ud800"')

    error = _refused(api.post("/v1/jobs", headers=AUTH_A, content=text.encode()), "surrogate")

    assert error["message"].startswith("body.request.messages[0].content")
    assert api_redis.dbsize() == 0


@pytest.mark.parametrize("timeout", ["abc", {}, [], None, True, "NaN", -1])
def test_jobs_wait_refuses_a_timeout_that_is_not_a_number_of_seconds(
    api: TestClient, timeout: Any
) -> None:
    job_id = _queued_job(api)

    error = _refused(
        api.post("/v1/jobs/wait", headers=AUTH_A, json={"ids": [job_id], "timeout": timeout}),
        "timeout",
    )

    assert error["param"] == "timeout"


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_json_nan_and_infinity_are_refused_as_not_json(api: TestClient, constant: str) -> None:
    job_id = _queued_job(api)
    text = json.dumps({"ids": [job_id], "timeout": 0}).replace("0}", f"{constant}}}")

    _refused(api.post("/v1/jobs/wait", headers=AUTH_A, content=text.encode()), constant)


@pytest.mark.parametrize("value", ["abc", "nan", "inf", "-1", "1e999"])
def test_query_string_timeouts_refuse_what_is_not_a_finite_positive_number(
    api: TestClient, value: str
) -> None:
    job_id = _queued_job(api)

    for path, name in (
        (f"/v1/jobs/{job_id}?wait={value}", "wait"),
        (f"/v1/jobs/{job_id}/events?timeout={value}", "timeout"),
    ):
        error = _refused(api.get(path, headers=AUTH_A), name)
        assert error["param"] == name


def test_chat_completions_refuses_a_bad_timeout_before_it_submits(
    api: TestClient, api_redis: redis.Redis
) -> None:
    body = {"model": "fast", "messages": [{"role": "user", "content": "Hi"}]}

    _refused(api.post("/v1/chat/completions?timeout=-3", headers=AUTH_A, json=body), "negative")

    assert api_redis.dbsize() == 0


@pytest.mark.parametrize("envelope", ["job-1", ["job-1"], 3])
def test_an_envelope_that_is_not_an_object_is_a_400_naming_envelope(
    api: TestClient, api_redis: redis.Redis, envelope: Any
) -> None:
    error = _refused(api.post("/v1/jobs", headers=AUTH_A, json=job_body(envelope=envelope)))

    assert error["param"] == "envelope"
    assert api_redis.dbsize() == 0


@pytest.mark.parametrize("suffix", [":attempts", ":result", ":claim"])
def test_a_job_id_naming_another_key_of_a_job_is_a_404_not_a_500(
    api: TestClient, suffix: str
) -> None:
    job_id = _queued_job(api)

    response = api.get(f"/v1/jobs/{job_id}{suffix}", headers=AUTH_A)

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    "body",
    [
        {"input_file_id": 5, "endpoint": "/v1/chat/completions"},
        {"input_file_id": "file-x", "endpoint": ["/v1/chat/completions"]},
        {"input_file_id": "file-x", "endpoint": "/v1/chat/completions", "metadata": []},
    ],
)
def test_a_batch_request_with_a_field_of_the_wrong_type_is_a_400_naming_it(
    api: TestClient, body: dict[str, Any]
) -> None:
    error = _refused(api.post("/v1/batches", headers=AUTH_A, json=body))

    assert error["param"] in ("input_file_id", "endpoint", "metadata")


def test_an_unknown_route_is_answered_in_openais_error_shape(api: TestClient) -> None:
    response = api.get("/v1/nowhere", headers=AUTH_A)

    assert response.status_code == 404
    assert "message" in response.json()["error"]


def test_an_unexpected_exception_is_an_openai_shaped_500_and_is_logged(api: TestClient) -> None:
    async def broken(request: Request) -> Response:
        raise RuntimeError("a bug")

    api.app.router.routes.append(Route("/v1/broken", broken))  # type: ignore[attr-defined]

    with capture_logs() as logs:
        response = api.get("/v1/broken", headers=AUTH_A)

    assert response.status_code == 500
    assert response.json()["error"]["type"] == "server_error"
    assert "a bug" not in response.text
    assert [entry["error_class"] for entry in logs if entry["event"] == "api.unexpected_error"] == [
        "RuntimeError"
    ]


def test_a_batch_line_nested_1000_deep_is_a_400_naming_its_line(
    api: TestClient, api_redis: redis.Redis
) -> None:
    content = ("\n".join([batch_line("r1"), "[" * 1000 + "]" * 1000]) + "\n").encode()
    file_id = upload(api, content).json()["id"]
    before = set(api_redis.keys())

    response = create_batch(api, file_id)

    error = _refused(response, "nested too deep")
    assert error["message"].startswith("line 2:")
    assert set(api_redis.keys()) == before
