"""CohereChatAdapter.build_request: OpenAI's request as a Cohere Chat v2 body.

Sources: https://docs.cohere.com/reference/chat (v2 request fields), cohere-python
``types/response_format_v2.py`` (``json_object`` with ``json_schema``),
``v2/types/v2chat_request_tool_choice.py`` (REQUIRED, NONE) and shared/reference/
provider-formats.md section 5.
"""

from __future__ import annotations

from typing import Any

import pytest

from adapters.base import AdapterTarget
from adapters.cohere_chat import CohereChatAdapter
from adapters.errors import InvalidRequest
from adapters.registry import get_adapter
from broker.jobs import CompletionRequest

TARGET = AdapterTarget(
    provider="cohere", base_url="https://api.cohere.com", model_id="command-a-03-2025"
)
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        "strict": True,
    },
}


def request(**fields: Any) -> CompletionRequest:
    fields.setdefault("messages", [{"role": "user", "content": "hi"}])
    return CompletionRequest.model_validate(fields)


def body(**fields: Any) -> dict[str, Any]:
    return dict(CohereChatAdapter().build_request(request(**fields), TARGET, "co-key").json)


def test_cohere_is_registered() -> None:
    assert isinstance(get_adapter("cohere"), CohereChatAdapter)


def test_posts_to_v2_chat_with_bearer_auth_and_the_model() -> None:
    call = CohereChatAdapter().build_request(request(), TARGET, "co-key")
    assert call.url == "https://api.cohere.com/v2/chat"
    assert call.headers["Authorization"] == "Bearer co-key"
    assert call.json["model"] == "command-a-03-2025"
    assert call.json["stream"] is False


def test_system_developer_user_and_image_parts() -> None:
    """v2 roles system|user|assistant|tool; images as image_url parts (vision models)."""
    sent = body(
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "developer", "content": [{"type": "text", "text": "Use metric units."}]},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {"type": "image_url", "image_url": {"url": "https://x.test/a.png"}},
                    {
                        "type": "image_url",
                        "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"},
                    },
                ],
            },
        ]
    )
    assert sent["messages"][0] == {"role": "system", "content": "Be brief."}
    assert sent["messages"][1] == {"role": "system", "content": "Use metric units."}
    assert sent["messages"][2]["content"] == [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "https://x.test/a.png"}},
        {
            "type": "image_url",
            "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"},
        },
    ]


def test_sampling_fields_are_renamed() -> None:
    """top_p -> p, stop -> stop_sequences, max_completion_tokens -> max_tokens, seed."""
    sent = body(temperature=0.3, top_p=0.5, stop="END", max_completion_tokens=99, seed=11)
    assert sent["temperature"] == 0.3
    assert sent["p"] == 0.5 and "top_p" not in sent
    assert sent["stop_sequences"] == ["END"] and "stop" not in sent
    assert sent["max_tokens"] == 99
    assert sent["seed"] == 11


def test_top_p_ends_are_clamped_into_cohere_range() -> None:
    """docs.cohere.com/reference/chat: p is between 0.01 and 0.99."""
    assert body(top_p=1.0)["p"] == 0.99
    assert body(top_p=0.0)["p"] == 0.01


def test_temperature_above_one_is_refused_naming_temperature_and_cohere() -> None:
    """Cohere 400 "invalid request: temperature must be between 0 and 1.0 inclusive."."""
    with pytest.raises(InvalidRequest, match=r"temperature.*cohere"):
        body(temperature=1.5)


def test_n_above_one_is_refused() -> None:
    with pytest.raises(InvalidRequest, match=r"\bn\b.*cohere"):
        body(n=2)


def test_tools_and_tool_choice_forms() -> None:
    """tool_choice accepts only REQUIRED and NONE; omitted means the model decides."""
    sent = body(tools=[WEATHER_TOOL], tool_choice="required")
    assert sent["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Weather for a city",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            },
        }
    ]
    assert sent["strict_tools"] is True
    assert sent["tool_choice"] == "REQUIRED"
    assert body(tools=[WEATHER_TOOL], tool_choice="none")["tool_choice"] == "NONE"
    assert "tool_choice" not in body(tools=[WEATHER_TOOL], tool_choice="auto")


def test_named_tool_choice_is_refused() -> None:
    named = {"type": "function", "function": {"name": "get_weather"}}
    with pytest.raises(InvalidRequest, match=r"tool_choice.*cohere"):
        body(tools=[WEATHER_TOOL], tool_choice=named)


def test_parallel_tool_calls_false_is_refused() -> None:
    with pytest.raises(InvalidRequest, match=r"parallel_tool_calls.*cohere"):
        body(tools=[WEATHER_TOOL], parallel_tool_calls=False)


def test_json_object_and_json_schema_response_formats() -> None:
    """cohere-python JsonObjectResponseFormatV2: {"type": "json_object", "json_schema": ...}."""
    assert body(response_format={"type": "json_object"})["response_format"] == {
        "type": "json_object"
    }
    schema = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}
    sent = body(
        response_format={"type": "json_schema", "json_schema": {"name": "p", "schema": schema}}
    )
    assert sent["response_format"] == {"type": "json_object", "json_schema": schema}
    assert "response_format" not in body(response_format={"type": "text"})


def test_json_output_with_tools_is_refused() -> None:
    """cohere-python ResponseFormatV2: "not supported when used in combinations with the
    documents or tools parameters"."""
    with pytest.raises(InvalidRequest, match=r"response_format.*cohere"):
        body(tools=[WEATHER_TOOL], response_format={"type": "json_object"})


def test_message_names_are_refused() -> None:
    with pytest.raises(InvalidRequest, match=r"messages\[0\]\.name.*cohere"):
        body(messages=[{"role": "user", "content": "hi", "name": "ann"}])


def test_a_tool_conversation_from_anthropic_ids_continues_on_cohere() -> None:
    """v2 assistant tool_calls {id, type, function{name, arguments}} + tool_plan, and tool
    messages with tool_call_id (docs.cohere.com/docs/tool-use)."""
    sent = body(
        messages=[
            {"role": "user", "content": "Weather in Paris?"},
            {
                "role": "assistant",
                "content": "I will look up the weather.",
                "tool_calls": [
                    {
                        "id": "toolu_01A09q90qw90lq917835lq9",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                    }
                ],
            },
            {
                "role": "tool",
                "tool_call_id": "toolu_01A09q90qw90lq917835lq9",
                "content": '{"temp_c": 18}',
            },
            {"role": "assistant", "content": "It is 18C."},
            {"role": "user", "content": "Thanks"},
        ],
        tools=[WEATHER_TOOL],
    )
    assistant = sent["messages"][1]
    assert assistant == {
        "role": "assistant",
        "tool_plan": "I will look up the weather.",
        "tool_calls": [
            {
                "id": "toolu_01A09q90qw90lq917835lq9",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
            }
        ],
    }
    assert sent["messages"][2] == {
        "role": "tool",
        "tool_call_id": "toolu_01A09q90qw90lq917835lq9",
        "content": '{"temp_c": 18}',
    }
    assert sent["messages"][3] == {"role": "assistant", "content": "It is 18C."}
