"""GeminiAdapter against the emulator (starlette TestClient): a multi-turn tool conversation,
and the bodies both sides exchange validated with Google's own SDK types (python-genai)."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from adapters.base import AdapterTarget, ParsedResponse
from adapters.errors import ProviderError
from adapters.gemini import GeminiAdapter
from adapters.gemini.signatures import decode_tool_call_id
from broker.jobs import CompletionRequest
from tests.adapters.emulator.helpers import WEATHER_TOOL

ADAPTER = GeminiAdapter()
TARGET = AdapterTarget("gemini", "http://testserver/gemini", "gemini-3-flash")
TOOLS = [WEATHER_TOOL]


def call(client: TestClient, request: dict[str, Any]) -> ParsedResponse:
    http = ADAPTER.build_request(CompletionRequest.model_validate(request), TARGET, "test-key")
    response = client.post(http.url, json=dict(http.json), headers=dict(http.headers))
    if response.status_code >= 300:
        raise ADAPTER.classify_error(response.status_code, response.headers, response.content)
    return ADAPTER.parse_response(response.status_code, response.headers, response.content, TARGET)


def test_tool_use_round_trip_ends_in_a_text_answer(client: TestClient) -> None:
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "You are a weather bot."},
        {"role": "user", "content": "Weather in Paris?"},
    ]
    first = call(client, {"messages": messages, "tools": TOOLS})
    (choice,) = first.choices
    assert choice.finish_reason == "tool_calls"
    (tool_call,) = choice.message.tool_calls or []
    assert tool_call.function.name == "get_weather"
    assert decode_tool_call_id(tool_call.id)[1] is not None  # the emulator signed it
    messages += [
        {"role": "assistant", "content": None, "tool_calls": [tool_call.model_dump()]},
        {"role": "tool", "tool_call_id": tool_call.id, "content": '{"temp_c": 21}'},
    ]
    final = call(client, {"messages": messages, "tools": TOOLS})
    (answer,) = final.choices
    assert answer.finish_reason == "stop"
    assert answer.message.content is not None
    assert answer.message.content.startswith("[gemini/gemini-3-flash] Based on the tool result")
    assert final.usage.prompt_tokens > 0 and final.usage.completion_tokens > 0


def test_history_from_another_provider_passes_gemini_3_signature_validation(
    client: TestClient,
) -> None:
    messages = [
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "toolu_01A09q90qw90lq917835lq9",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "toolu_01A09q90qw90lq917835lq9", "content": "sunny"},
    ]
    final = call(client, {"messages": messages, "tools": TOOLS})
    assert final.choices[0].finish_reason == "stop"


def test_emulated_rate_limit_comes_back_as_rate_limited_with_the_body_delay(
    client: TestClient,
) -> None:
    rules = {"rules": [{"provider": "gemini", "kind": "rate_limit", "retry_after": 7}]}
    assert client.post("/_emulator/faults", json=rules).status_code == 200
    with pytest.raises(ProviderError) as caught:
        call(client, {"messages": [{"role": "user", "content": "hi"}]})
    assert caught.value.error_class == "RateLimited"
    assert caught.value.retry_after == 7.0


def test_request_body_parts_validate_as_python_genai_types() -> None:
    """The contents, tools, toolConfig and generationConfig sent are valid google.genai types."""
    types = pytest.importorskip("google.genai.types")
    request = CompletionRequest.model_validate(
        {
            "messages": [
                {"role": "user", "content": "Weather in Paris?"},
                {
                    "role": "assistant",
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city": "P"}'},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
            ],
            "tools": TOOLS,
            "tool_choice": "required",
            "temperature": 0.5,
            "response_format": {"type": "json_object"},
        }
    )
    body = ADAPTER.build_request(request, TARGET, "k").json
    for content in body["contents"]:
        types.Content.model_validate(content)
    types.Tool.model_validate(body["tools"][0])
    types.ToolConfig.model_validate(body["toolConfig"])
    types.GenerationConfig.model_validate(body["generationConfig"])
