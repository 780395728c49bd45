"""AzureOpenAIAdapter against the emulator's Azure path: deployment URL, api-version, api-key.

The emulator serves ``/{provider}/openai/deployments/{deployment}/chat/completions`` with the
deployment reported as the model, and the v1 path through its OpenAI wire.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from adapters.azure_openai import AzureOpenAIAdapter
from adapters.base import AdapterTarget, ParsedResponse
from adapters.emulator import EmulatorConfig, create_app
from adapters.errors import AuthError
from broker.jobs import CompletionRequest

TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(create_app(EmulatorConfig(hang_s=0.05))) as test_client:
        yield test_client


def run(client: TestClient, request: CompletionRequest, api_version: str, key: str) -> Any:
    adapter = AzureOpenAIAdapter()
    target = AdapterTarget(
        provider="azure",
        base_url="http://testserver/azure",
        model_id="gpt4o-prod",
        options={"api_version": api_version},
    )
    call = adapter.build_request(request, target, key)
    response = client.post(
        call.url, json=dict(call.json), headers=dict(call.headers), params=dict(call.params)
    )
    if response.status_code != 200:
        raise adapter.classify_error(response.status_code, response.headers, response.content)
    return adapter.parse_response(200, response.headers, response.content, target)


def hello() -> CompletionRequest:
    return CompletionRequest.model_validate({"messages": [{"role": "user", "content": "hi"}]})


@pytest.mark.parametrize("api_version", ["2024-10-21", "v1"])
def test_the_emulator_answers_azure_calls_with_the_deployment_as_model(
    client: TestClient, api_version: str
) -> None:
    parsed = run(client, hello(), api_version, "azure-key")
    assert isinstance(parsed, ParsedResponse)
    assert parsed.model == "gpt4o-prod"
    assert "[azure/gpt4o-prod]" in (parsed.choices[0].message.content or "")


def test_a_missing_api_key_is_an_auth_error(client: TestClient) -> None:
    with pytest.raises(AuthError):
        run(client, hello(), "2024-10-21", "")


def test_a_tool_conversation_runs_over_two_turns(client: TestClient) -> None:
    first = CompletionRequest.model_validate(
        {"messages": [{"role": "user", "content": "Weather in Paris?"}], "tools": [TOOL]}
    )
    turn = run(client, first, "2024-10-21", "azure-key")
    calls = turn.choices[0].message.tool_calls
    assert turn.choices[0].finish_reason == "tool_calls" and calls
    second = CompletionRequest.model_validate(
        {
            "messages": [
                {"role": "user", "content": "Weather in Paris?"},
                {"role": "assistant", "tool_calls": [call.model_dump() for call in calls]},
                {"role": "tool", "tool_call_id": calls[0].id, "content": "18C"},
            ],
            "tools": [TOOL],
        }
    )
    answer = run(client, second, "2024-10-21", "azure-key")
    assert answer.choices[0].finish_reason == "stop"
