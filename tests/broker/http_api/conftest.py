"""The HTTP API in process (Starlette's test client) over the session's real Redis server, in
a database of its own that each test starts empty; no workers, so submitted jobs stay queued
and a test sees exactly what a request wrote."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, closing, contextmanager
from pathlib import Path
from typing import Any

import pytest
import redis
from httpx2 import Response
from starlette.applications import Starlette
from starlette.testclient import TestClient

from broker.catalog_file import load_catalog
from broker.client import CascadeClient
from broker.http_api import TenantDirectory, create_app
from broker.settings import Settings

CATALOG = str(Path(__file__).parents[2] / "fixtures" / "catalog.yaml")
KEY_A, KEY_B = "sk-unit-acme", "sk-unit-globex"
AUTH_A = {"Authorization": f"Bearer {KEY_A}"}
AUTH_B = {"Authorization": f"Bearer {KEY_B}"}
_DB = 11

ApiFactory = Callable[..., AbstractContextManager[TestClient]]


@pytest.fixture
def api_redis(redis_url: str) -> Iterator[redis.Redis]:
    connection = redis.Redis.from_url(f"{redis_url.rsplit('/', 1)[0]}/{_DB}")
    connection.flushdb()
    yield connection
    connection.flushdb()
    connection.close()


@contextmanager
def api_app(redis_url: str, **overrides: Any) -> Iterator[Starlette]:
    """The API application on the session's Redis (database 11), no webhook dispatcher."""
    settings = Settings(
        redis_url=f"{redis_url.rsplit('/', 1)[0]}/{_DB}",
        config=CATALOG,
        profile="emulated",
        emulator_url="http://127.0.0.1:9",
        **overrides,
    )
    catalog = load_catalog(CATALOG, "emulated", emulator_url=settings.emulator_url)
    tenants = TenantDirectory.from_keys({"acme": [KEY_A], "globex": [KEY_B]})
    with closing(CascadeClient(settings, catalog)) as client:
        yield create_app(client, tenants, webhooks=False)


@pytest.fixture
def make_api(api_redis: redis.Redis, redis_url: str) -> ApiFactory:
    """``with make_api(**settings) as http:`` an API whose settings are ``settings``."""

    @contextmanager
    def started(**overrides: Any) -> Iterator[TestClient]:
        with (
            api_app(redis_url, **overrides) as app,
            TestClient(app, raise_server_exceptions=False) as http,
        ):
            yield http

    return started


@pytest.fixture
def api(make_api: ApiFactory) -> Iterator[TestClient]:
    with make_api() as http:
        yield http


def job_body(**extra: Any) -> dict[str, Any]:
    return {
        "needs": {"tier": "fast"},
        "request": {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 5},
        **extra,
    }


def batch_line(custom_id: str) -> str:
    body = {"model": "fast", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 5}
    return json.dumps(
        {"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions", "body": body}
    )


def upload(api: TestClient, content: bytes) -> Response:
    """``POST /v1/files`` of ``content`` as tenant A's batch input."""
    return api.post(
        "/v1/files",
        headers=AUTH_A,
        files={"file": ("in.jsonl", content)},
        data={"purpose": "batch"},
    )


def create_batch(api: TestClient, file_id: str, **fields: Any) -> Response:
    """``POST /v1/batches`` of an uploaded file as tenant A, with ``fields`` besides."""
    body = {"input_file_id": file_id, "endpoint": "/v1/chat/completions", **fields}
    return api.post("/v1/batches", headers=AUTH_A, json=body)
