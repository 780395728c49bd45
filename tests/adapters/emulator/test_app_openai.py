"""The emulator app speaking OpenAI's chat-completions format (in-process, starlette TestClient).

Shapes checked against openai/openai-openapi ``CreateChatCompletionResponse`` and ``ErrorResponse``
(see /work/shared/reference/provider-formats.md, sections 1.2 and 1.3).
"""

from __future__ import annotations

import json

import pytest
from starlette.testclient import TestClient

from adapters.emulator.content import estimate_tokens
from tests.adapters.emulator.helpers import AUTH, CHAT_PATH, WEATHER_TOOL, chat, chat_body


def test_success_body_has_every_field_of_a_chat_completion(client: TestClient) -> None:
    response = chat(client)
    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "chat.completion"
    assert body["id"].startswith("chatcmpl-")
    assert body["model"] == "gpt-5.4"
    assert isinstance(body["created"], int)
    assert body["system_fingerprint"].startswith("fp_")
    (choice,) = body["choices"]
    assert choice["finish_reason"] == "stop"
    assert choice["message"]["role"] == "assistant"
    assert choice["message"]["content"].startswith("[openai/gpt-5.4] ")
    usage = body["usage"]
    assert usage["prompt_tokens_details"]["cached_tokens"] == 0
    assert usage["completion_tokens_details"]["reasoning_tokens"] == 0


def test_same_request_gets_the_same_body(client: TestClient) -> None:
    assert chat(client).json() == chat(client).json()


def test_usage_follows_the_documented_estimate(client: TestClient) -> None:
    text = "What is the capital of France?"
    body = chat(client, chat_body(text)).json()
    usage = body["usage"]
    assert usage["prompt_tokens"] == 3 + 4 + estimate_tokens(text)
    content = body["choices"][0]["message"]["content"]
    assert usage["completion_tokens"] == estimate_tokens(content)
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_success_carries_openai_request_id_and_rate_limit_headers(client: TestClient) -> None:
    """Header names as listed for OpenAI in provider-formats.md section 0.3."""
    headers = chat(client).headers
    assert headers["x-request-id"].startswith("req_")
    for name in ("requests", "tokens"):
        assert int(headers[f"x-ratelimit-limit-{name}"]) > 0
        assert int(headers[f"x-ratelimit-remaining-{name}"]) >= 0
        assert headers[f"x-ratelimit-reset-{name}"]


@pytest.mark.parametrize("field", ["max_tokens", "max_completion_tokens"])
def test_output_limit_truncates_and_finishes_with_length(client: TestClient, field: str) -> None:
    request = chat_body()
    request[field] = 2
    body = chat(client, request).json()
    assert body["choices"][0]["finish_reason"] == "length"
    assert body["usage"]["completion_tokens"] == 2


def test_n_gives_that_many_choices(client: TestClient) -> None:
    body = chat(client, chat_body(n=3)).json()
    assert [c["index"] for c in body["choices"]] == [0, 1, 2]


def test_tool_call_turn_then_tool_result_turn(client: TestClient) -> None:
    """Message shapes from the OpenAPI spec: assistant ``tool_calls`` then a ``tool`` message
    with ``tool_call_id``."""
    first = chat(client, chat_body("Weather in Paris?", tools=[WEATHER_TOOL])).json()
    choice = first["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    (call,) = choice["message"]["tool_calls"]
    assert call["type"] == "function" and call["id"].startswith("call_")
    assert call["function"]["name"] == "get_weather"
    assert isinstance(json.loads(call["function"]["arguments"])["city"], str)

    messages = [
        {"role": "user", "content": "Weather in Paris?"},
        choice["message"],
        {"role": "tool", "tool_call_id": call["id"], "content": "sunny, 21C"},
    ]
    second = chat(client, {"model": "gpt-5.4", "messages": messages, "tools": [WEATHER_TOOL]})
    answer = second.json()["choices"][0]
    assert answer["finish_reason"] == "stop"
    assert "sunny, 21C" in answer["message"]["content"]


def test_named_tool_choice_calls_that_tool(client: TestClient) -> None:
    other = {"type": "function", "function": {"name": "lookup"}}
    choice = {"type": "function", "function": {"name": "lookup"}}
    body = chat(client, chat_body(tools=[WEATHER_TOOL, other], tool_choice=choice)).json()
    assert body["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == "lookup"


def test_json_schema_response_format_gives_a_json_object(client: TestClient) -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    response_format = {"type": "json_schema", "json_schema": {"name": "place", "schema": schema}}
    body = chat(client, chat_body(response_format=response_format)).json()
    assert set(json.loads(body["choices"][0]["message"]["content"])) == {"city"}


def test_missing_key_is_401_with_openai_invalid_api_key_body(client: TestClient) -> None:
    """Body as in provider-formats.md 1.3 (401 invalid_api_key)."""
    response = client.post(CHAT_PATH, json=chat_body())
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["code"] == "invalid_api_key"
    assert error["param"] is None
    assert error["message"].startswith("Incorrect API key provided")
    empty = client.post(CHAT_PATH, json=chat_body(), headers={"Authorization": "Bearer "})
    assert empty.status_code == 401


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"messages": [{"role": "user", "content": "hi"}]}, "model"),
        ({"model": "gpt-5.4", "messages": []}, "messages"),
        ({"model": "gpt-5.4"}, "messages"),
        (
            {"model": "gpt-5.4", "messages": [{"role": "robot", "content": "hi"}]},
            "messages[0].role",
        ),
        (chat_body(max_tokens=0), "max_tokens"),
        (chat_body(n=0), "n"),
    ],
)
def test_invalid_body_is_400_naming_the_param(
    client: TestClient, body: dict[str, object], param: str
) -> None:
    response = chat(client, body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param


def test_body_that_is_not_json_is_400(client: TestClient) -> None:
    response = client.post(CHAT_PATH, content=b"{not json", headers=AUTH)
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"


@pytest.mark.parametrize(
    ("method", "path"), [("POST", "/openai/v1/embeddingz"), ("GET", CHAT_PATH)]
)
def test_unknown_path_or_method_is_404_in_openai_shape(
    client: TestClient, method: str, path: str
) -> None:
    response = client.request(method, path, json=chat_body(), headers=AUTH)
    assert response.status_code == 404
    assert set(response.json()["error"]) == {"message", "type", "param", "code"}


@pytest.mark.parametrize(
    ("path", "provider"),
    [
        ("/deepseek/chat/completions", "deepseek"),
        ("/mistral/v1/chat/completions", "mistral"),
        ("/groq/openai/v1/chat/completions", "groq"),
    ],
)
def test_openai_compatible_vendors_are_told_apart_by_the_first_segment(
    client: TestClient, path: str, provider: str
) -> None:
    """Base URLs from provider-formats.md 0.1, prefixed by the provider name."""
    content = chat(client, path=path).json()["choices"][0]["message"]["content"]
    assert content.startswith(f"[{provider}/gpt-5.4] ")


def test_azure_deployment_path_takes_the_model_from_the_path_and_accepts_api_key(
    client: TestClient,
) -> None:
    """Azure classic URL and ``api-key`` header: openai-python ``lib/azure.py``."""
    path = "/azure/openai/deployments/my-gpt/chat/completions?api-version=2024-10-21"
    body = {"messages": [{"role": "user", "content": "hi"}]}
    response = client.post(path, json=body, headers={"api-key": "azure-key"})
    assert response.status_code == 200
    assert response.json()["model"] == "my-gpt"
    assert client.post(path, json=body).status_code == 401
