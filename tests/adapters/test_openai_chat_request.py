"""OpenAIChatAdapter.build_request: the HTTP call made for a cascade request.

Field shapes follow openai/openai-openapi CreateChatCompletionRequest
(shared/reference/provider-formats.md section 1.1).
"""

from __future__ import annotations

from typing import Any

import pytest

from adapters.base import AdapterTarget
from adapters.errors import InvalidRequest
from adapters.openai_chat import OpenAIChatAdapter
from adapters.openai_quirks import CompatQuirks
from broker.jobs import CompletionRequest

TARGET = AdapterTarget(provider="openai", base_url="https://api.openai.com/v1/", model_id="gpt-4.1")
PNG_DATA_URL = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk"

WEATHER_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"type": ["string", "null"]}},
            "required": ["city", "unit"],
            "additionalProperties": False,
        },
        "strict": True,
    },
}

FULL_REQUEST: dict[str, Any] = {
    "messages": [
        {"role": "system", "content": "You are terse."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What city is this, and its weather?"},
                {"type": "image_url", "image_url": {"url": PNG_DATA_URL, "detail": "low"}},
            ],
        },
        {
            "role": "assistant",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": '{"temp_c": 21}'},
        {"role": "assistant", "content": "Paris, 21 C."},
        {"role": "user", "content": "Answer again as JSON."},
    ],
    "tools": [WEATHER_TOOL],
    "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
    "parallel_tool_calls": False,
    "response_format": {
        "type": "json_schema",
        "json_schema": {
            "name": "city_weather",
            "schema": {
                "type": "object",
                "properties": {"city": {"type": "string"}, "temp_c": {"type": "number"}},
                "required": ["city", "temp_c"],
                "additionalProperties": False,
            },
            "strict": True,
        },
    },
    "temperature": 0.2,
    "stop": ["\n\n", "END"],
    "seed": 1234,
    "max_tokens": 300,
    "user": "user-42",
}


def build(data: dict[str, Any], adapter: OpenAIChatAdapter | None = None) -> dict[str, Any]:
    call = (adapter or OpenAIChatAdapter()).build_request(
        CompletionRequest.model_validate(data), TARGET, "sk-test"
    )
    return dict(call.json)


def test_posts_to_chat_completions_under_base_url_without_double_slash() -> None:
    call = OpenAIChatAdapter().build_request(
        CompletionRequest.model_validate(FULL_REQUEST), TARGET, "sk-test"
    )
    assert call.method == "POST"
    assert call.url == "https://api.openai.com/v1/chat/completions"
    assert call.params == {}


def test_sends_bearer_key_and_json_content_type() -> None:
    call = OpenAIChatAdapter().build_request(
        CompletionRequest.model_validate(FULL_REQUEST), TARGET, "sk-test"
    )
    assert call.headers["Authorization"] == "Bearer sk-test"
    assert call.headers["Content-Type"] == "application/json"


def test_an_empty_key_sends_no_authorization_header() -> None:
    """Local OpenAI-compatible servers (Ollama, vLLM without --api-key) take no key."""
    call = OpenAIChatAdapter().build_request(
        CompletionRequest.model_validate(FULL_REQUEST), TARGET, ""
    )
    assert "Authorization" not in call.headers


def test_organization_and_project_options_become_openai_headers() -> None:
    target = AdapterTarget(
        provider="openai",
        base_url="https://api.openai.com/v1",
        model_id="gpt-4.1",
        options={"organization": "org-1", "project": "proj_1"},
    )
    call = OpenAIChatAdapter().build_request(
        CompletionRequest.model_validate(FULL_REQUEST), target, "sk-test"
    )
    assert call.headers["OpenAI-Organization"] == "org-1"
    assert call.headers["OpenAI-Project"] == "proj_1"


def test_body_names_the_target_model_and_never_streams() -> None:
    body = build(FULL_REQUEST)
    assert body["model"] == "gpt-4.1"
    assert body["stream"] is False


def test_system_multi_turn_tool_and_image_messages_pass_through_unchanged() -> None:
    body = build(FULL_REQUEST)
    expected = [dict(message) for message in FULL_REQUEST["messages"]]
    assert body["messages"] == expected


def test_tools_and_named_tool_choice_pass_through_unchanged() -> None:
    body = build(FULL_REQUEST)
    assert body["tools"] == [WEATHER_TOOL]
    assert body["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert body["parallel_tool_calls"] is False


def test_json_schema_response_format_is_sent_under_the_key_schema() -> None:
    """ResponseFormat's ``schema_`` field has the alias ``schema``, OpenAI's wire name."""
    body = build(FULL_REQUEST)
    assert body["response_format"] == FULL_REQUEST["response_format"]
    assert "schema_" not in body["response_format"]["json_schema"]


def test_stop_seed_temperature_and_user_pass_through() -> None:
    body = build(FULL_REQUEST)
    assert body["stop"] == ["\n\n", "END"]
    assert body["seed"] == 1234
    assert body["temperature"] == 0.2
    assert body["user"] == "user-42"


def test_max_tokens_is_sent_as_max_completion_tokens() -> None:
    """openapi: max_tokens is deprecated and not compatible with o-series models."""
    body = build(FULL_REQUEST)
    assert body["max_completion_tokens"] == 300
    assert "max_tokens" not in body


def test_max_completion_tokens_wins_over_max_tokens() -> None:
    body = build({**FULL_REQUEST, "max_tokens": 300, "max_completion_tokens": 900})
    assert body["max_completion_tokens"] == 900
    assert "max_tokens" not in body


def test_unset_fields_and_none_values_are_omitted() -> None:
    body = build({"messages": [{"role": "user", "content": "hi"}]})
    assert body == {"model": "gpt-4.1", "messages": [{"role": "user", "content": "hi"}],
                    "stream": False}


def test_n_is_omitted_when_one_and_sent_otherwise() -> None:
    single = build({"messages": [{"role": "user", "content": "hi"}], "n": 1})
    several = build({"messages": [{"role": "user", "content": "hi"}], "n": 3})
    assert "n" not in single
    assert several["n"] == 3


def test_metadata_is_not_sent_because_openai_requires_store_for_it() -> None:
    """OpenAI answers 400 "The 'metadata' parameter is only allowed when 'store' is enabled."
    (tmc/langchaingo#1484, spiceai/spiceai#5231)."""
    body = build({"messages": [{"role": "user", "content": "hi"}], "metadata": {"team": "ai"}})
    assert "metadata" not in body
    assert "store" not in body


def test_quirks_can_send_max_tokens_and_rename_seed() -> None:
    class MistralLike(OpenAIChatAdapter):
        name = "mistral-like"
        quirks = CompatQuirks(
            token_limit_field="max_tokens", renamed_fields={"seed": "random_seed"}
        )

    body = build(FULL_REQUEST, MistralLike())
    assert body["max_tokens"] == 300
    assert "max_completion_tokens" not in body
    assert body["random_seed"] == 1234
    assert "seed" not in body


def test_a_response_format_the_vendor_lacks_is_an_invalid_request() -> None:
    class JsonObjectOnly(OpenAIChatAdapter):
        name = "json-object-only"
        quirks = CompatQuirks(response_format_types=frozenset({"text", "json_object"}))

    with pytest.raises(InvalidRequest, match="json_schema"):
        build(FULL_REQUEST, JsonObjectOnly())
