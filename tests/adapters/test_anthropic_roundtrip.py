"""A multi-turn tool conversation: AnthropicMessagesAdapter -> emulator -> adapter, twice.

The adapter builds each request from OpenAI-shaped messages, the in-process emulator answers
as the Messages API would, and the adapter's parsed answer feeds the next turn, the way a
worker would carry a conversation (and the way a rerouted one arrives with OpenAI ids).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from starlette.testclient import TestClient

from adapters.anthropic import AnthropicMessagesAdapter
from adapters.base import AdapterTarget, ParsedResponse
from adapters.errors import Overloaded, QuotaExhausted, RateLimited
from broker.jobs import CompletionRequest

ADAPTER = AnthropicMessagesAdapter()
TARGET = AdapterTarget("anthropic", "http://testserver/anthropic", "claude-sonnet-4-5")
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Get the current weather in a given location",
            "parameters": {
                "type": "object",
                "properties": {"location": {"type": "string"}},
                "required": ["location"],
            },
        },
    }
]


def call(client: TestClient, request: dict[str, Any]) -> ParsedResponse:
    http = ADAPTER.build_request(CompletionRequest.model_validate(request), TARGET, "sk-ant-test")
    response = client.request(
        http.method, http.url, json=dict(http.json), headers=dict(http.headers)
    )
    if response.status_code >= 300:
        raise ADAPTER.classify_error(response.status_code, response.headers, response.content)
    return ADAPTER.parse_response(response.status_code, response.headers, response.content, TARGET)


def test_tool_call_then_tool_result_then_final_text(client: TestClient) -> None:
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "You are a weather bot."},
        {"role": "user", "content": "What is the weather in Paris?"},
    ]
    first = call(client, {"messages": messages, "tools": TOOLS})
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.tool_calls is not None
    tool_call = choice.message.tool_calls[0]
    assert tool_call.id.startswith("toolu_")
    assert tool_call.function.name == "get_weather"
    assert "location" in json.loads(tool_call.function.arguments)
    assert first.usage.prompt_tokens > 0 and first.usage.completion_tokens > 0

    messages.append(choice.message.model_dump(exclude_none=True))
    messages.append({"role": "tool", "tool_call_id": tool_call.id, "content": "18 C and sunny"})
    second = call(client, {"messages": messages, "tools": TOOLS})
    final = second.choices[0]
    assert final.finish_reason == "stop"
    assert final.message.tool_calls is None
    assert final.message.content is not None and "18 C and sunny" in final.message.content


def test_a_conversation_rerouted_with_foreign_tool_ids_still_pairs_call_and_result(
    client: TestClient,
) -> None:
    """A history from an OpenAI-compatible vendor whose ids Anthropic would reject."""
    foreign = "functions.get_weather:0"
    messages = [
        {"role": "user", "content": "What is the weather in Paris?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": foreign,
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"location": "Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": foreign, "content": "rainy"},
    ]
    answer = call(client, {"messages": messages, "tools": TOOLS})
    assert answer.choices[0].finish_reason == "stop"
    assert "rainy" in (answer.choices[0].message.content or "")


def test_json_object_request_comes_back_as_json_content(client: TestClient) -> None:
    answer = call(
        client,
        {
            "messages": [{"role": "user", "content": "Give JSON"}],
            "response_format": {"type": "json_object"},
        },
    )
    assert answer.choices[0].finish_reason == "stop"
    assert isinstance(json.loads(answer.choices[0].message.content or ""), dict)


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ({"kind": "status", "status": 529}, Overloaded),
        ({"kind": "rate_limit", "retry_after": 2}, RateLimited),
        ({"kind": "rate_limit", "error_code": "insufficient_quota"}, QuotaExhausted),
    ],
)
def test_emulated_faults_classify_as_the_adapter_expects(
    client: TestClient, rule: dict[str, Any], expected: type[Exception]
) -> None:
    client.post("/_emulator/faults", json={"rules": [{"provider": "anthropic", **rule}]})
    with pytest.raises(expected):
        call(client, {"messages": [{"role": "user", "content": "Hi"}]})
