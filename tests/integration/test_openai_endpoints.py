"""The OpenAI endpoints besides chat completions, driven by the official ``openai`` SDK against
``cascade api`` as a real uvicorn process on a real Redis: models, files and the error shape of
routes and methods cascade does not serve. No worker is needed: nothing here runs a job."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
import redis

from broker.local_stack import LocalStack
from tests.integration.support import api_server

pytestmark = pytest.mark.integration

CATALOG = str(Path(__file__).parents[1] / "fixtures" / "catalog.yaml")
KEY_A, KEY_B = "sk-endpoints-acme", "sk-endpoints-globex"


@pytest.fixture(scope="module")
def api(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = redis_url.rsplit("/", 1)[0] + "/13"
    redis.Redis.from_url(url).flushdb()
    logs = tmp_path_factory.mktemp("endpoints-logs")
    env = {"CASCADE_API_KEYS": f"acme={KEY_A},globex={KEY_B}"}
    with LocalStack(config=CATALOG, redis_url=url, log_dir=logs, extra_env=env) as stack:
        stack.start_redis()
        stack.start_emulator()
        with api_server(stack, "--no-webhooks") as base:
            yield base


@pytest.fixture()
def sdk(api: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{api}/v1", api_key=KEY_A, max_retries=0)


def test_models_list_names_every_tier_and_catalog_model_with_capabilities_and_prices(
    sdk: openai.OpenAI,
) -> None:
    models = {item.id: item for item in sdk.models.list()}

    assert set(models) == {"fast", "smart", "a1", "b1", "g1", "b2"}
    assert all(item.object == "model" for item in models.values())
    b1 = models["b1"].model_dump()
    assert b1["owned_by"] == "beta" and b1["kind"] == "model"
    assert b1["context_window"] == 32000 and b1["max_output_tokens"] == 4096
    assert b1["capabilities"] == ["json_object", "json_schema", "tools", "vision"]
    assert b1["pricing"] == {"input_per_mtok_usd": 0.2, "output_per_mtok_usd": 0.8}
    fast = models["fast"].model_dump()
    assert fast["kind"] == "tier" and fast["models"] == ["a1", "b1"] and fast["fallback"] == "smart"
    # what the tier's route can offer: any capability of its models, the largest window
    assert "vision" in fast["capabilities"] and fast["context_window"] == 32000
    assert fast["pricing"]["input_per_mtok_usd"] == {"min": 0.1, "max": 0.2}


def test_models_retrieve_returns_one_model_and_404s_an_unknown_one_in_openai_shape(
    sdk: openai.OpenAI,
) -> None:
    smart = sdk.models.retrieve("smart")
    assert smart.id == "smart" and smart.owned_by == "cascade"
    assert sdk.models.retrieve("g1").model_dump()["context_window"] == 200000

    with pytest.raises(openai.NotFoundError) as caught:
        sdk.models.retrieve("gpt-nothing")
    assert caught.value.code == "model_not_found"
    assert "gpt-nothing" in caught.value.message


def test_an_unknown_route_answers_404_in_openai_error_shape(api: str, sdk: openai.OpenAI) -> None:
    response = httpx.get(f"{api}/v1/nothing/here", headers={"Authorization": f"Bearer {KEY_A}"})

    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {
        "error": {
            "message": "Invalid URL (GET /v1/nothing/here)",
            "type": "invalid_request_error",
            "param": None,
            "code": "unknown_url",
        }
    }
    with pytest.raises(openai.NotFoundError) as caught:
        sdk.embeddings.create(model="fast", input="hello")
    assert caught.value.message.endswith("Invalid URL (POST /v1/embeddings)")
    assert caught.value.code == "unknown_url"


def test_a_method_a_route_does_not_take_answers_405_in_openai_error_shape(api: str) -> None:
    response = httpx.put(f"{api}/v1/chat/completions", headers={"Authorization": "Bearer x"})

    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["code"] == "method_not_allowed"
    assert error["message"].startswith("Method not allowed (PUT /v1/chat/completions)")


def test_a_405_allows_every_method_of_a_path_served_by_several_routes(api: str) -> None:
    response = httpx.put(f"{api}/v1/files", headers={"Authorization": "Bearer x"})

    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD, POST"
    assert response.json()["error"]["code"] == "method_not_allowed"


def test_files_list_shows_the_tenants_uploads_newest_first_and_pages_by_after(
    api: str, sdk: openai.OpenAI
) -> None:
    ids = [
        sdk.files.create(file=(f"in-{i}.jsonl", b"{}\n"), purpose="batch").id for i in range(3)
    ]
    other = openai.OpenAI(base_url=f"{api}/v1", api_key=KEY_B, max_retries=0)
    theirs = other.files.create(file=("theirs.jsonl", b"{}\n"), purpose="user_data").id

    listed = [item.id for item in sdk.files.list()]
    first = sdk.files.list(limit=2)

    assert listed[:3] == ids[::-1] and theirs not in listed
    assert [item.id for item in first.data] == [ids[2], ids[1]] and first.has_more
    assert [item.id for item in sdk.files.list(limit=2, after=ids[1]).data][0] == ids[0]
    assert [item.id for item in other.files.list(purpose="user_data")] == [theirs]
    assert [item.id for item in other.files.list(purpose="batch")] == []


def test_files_retrieve_returns_the_upload_and_a_deleted_file_leaves_the_list(
    sdk: openai.OpenAI,
) -> None:
    uploaded = sdk.files.create(file=("gone.jsonl", b"{}\n"), purpose="batch")
    found = sdk.files.retrieve(uploaded.id)
    assert (found.filename, found.purpose, found.bytes) == ("gone.jsonl", "batch", 3)

    assert sdk.files.delete(uploaded.id).deleted
    assert uploaded.id not in [item.id for item in sdk.files.list()]
    with pytest.raises(openai.NotFoundError):
        sdk.files.retrieve(uploaded.id)


def test_an_upload_with_an_undocumented_purpose_is_refused_naming_purpose(
    sdk: openai.OpenAI,
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.files.create(file=("in.jsonl", b"{}\n"), purpose="training")  # type: ignore[arg-type]

    assert caught.value.param == "purpose"
    assert "'training'" in caught.value.message and "batch" in caught.value.message


def test_a_batch_refuses_an_input_file_not_uploaded_for_batch(sdk: openai.OpenAI) -> None:
    uploaded = sdk.files.create(file=("in.jsonl", b"{}\n"), purpose="user_data")

    with pytest.raises(openai.BadRequestError) as caught:
        sdk.batches.create(
            input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"
        )

    assert caught.value.param == "input_file_id" and "'user_data'" in caught.value.message
