"""AnthropicMessagesAdapter.build_request: OpenAI requests as Messages API bodies.

Expected shapes: anthropic-sdk-python ``types/message_create_params.py`` (MessageCreateParams,
ToolChoice*, ImageBlockParam's Base64ImageSource / URLImageSource, ToolUseBlockParam,
ToolResultBlockParam, OutputConfigParam) and https://docs.claude.com/en/api/messages; the
mapping rules are shared/reference/provider-formats.md section 3.2.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from adapters.anthropic import AnthropicMessagesAdapter
from adapters.anthropic.request import ANTHROPIC_VERSION, DEFAULT_MAX_TOKENS, JSON_TOOL_NAME
from adapters.base import AdapterTarget
from adapters.errors import InvalidRequest
from broker.jobs import CompletionRequest

TARGET = AdapterTarget(
    provider="anthropic", base_url="https://api.anthropic.com", model_id="claude-sonnet-4-5"
)
WEATHER_TOOL: dict[str, Any] = {
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


def build(target: AdapterTarget = TARGET, **request: Any) -> dict[str, Any]:
    request.setdefault("messages", [{"role": "user", "content": "Hello"}])
    call = AnthropicMessagesAdapter().build_request(
        CompletionRequest.model_validate(request), target, "sk-ant-test"
    )
    return dict(call.json)


def test_call_posts_to_v1_messages_with_key_and_version_headers() -> None:
    """Headers from the SDK's _client.py / docs: x-api-key, anthropic-version 2023-06-01."""
    call = AnthropicMessagesAdapter().build_request(
        CompletionRequest.model_validate({"messages": [{"role": "user", "content": "Hi"}]}),
        TARGET,
        "sk-ant-test",
    )
    assert call.method == "POST"
    assert call.url == "https://api.anthropic.com/v1/messages"
    assert call.headers["x-api-key"] == "sk-ant-test"
    assert call.headers["anthropic-version"] == ANTHROPIC_VERSION == "2023-06-01"
    assert call.headers["content-type"] == "application/json"
    assert "Authorization" not in call.headers


def test_emulator_base_url_only_gets_the_native_path_appended() -> None:
    target = AdapterTarget("anthropic", "http://127.0.0.1:8000/anthropic/", "claude-haiku-4-5")
    call = AnthropicMessagesAdapter().build_request(
        CompletionRequest.model_validate({"messages": [{"role": "user", "content": "Hi"}]}),
        target,
        "k",
    )
    assert call.url == "http://127.0.0.1:8000/anthropic/v1/messages"


def test_system_and_developer_messages_become_top_level_system_blocks() -> None:
    body = build(
        messages=[
            {"role": "system", "content": "You are terse."},
            {"role": "developer", "content": [{"type": "text", "text": "Answer in French."}]},
            {"role": "user", "content": "Hello"},
        ]
    )
    assert body["system"] == [
        {"type": "text", "text": "You are terse."},
        {"type": "text", "text": "Answer in French."},
    ]
    assert [turn["role"] for turn in body["messages"]] == ["user"]


def test_max_tokens_is_always_sent_request_limit_then_option_then_default() -> None:
    """max_tokens is Required[int] in MessageCreateParamsBase."""
    assert build(max_completion_tokens=77)["max_tokens"] == 77
    assert build(max_tokens=55)["max_tokens"] == 55
    configured = AdapterTarget("anthropic", TARGET.base_url, "claude", {"max_tokens": 1234})
    assert build(configured)["max_tokens"] == 1234
    assert build()["max_tokens"] == DEFAULT_MAX_TOKENS


def test_consecutive_same_role_messages_are_merged_into_one_turn() -> None:
    body = build(
        messages=[
            {"role": "user", "content": "First."},
            {"role": "user", "content": "Second."},
            {"role": "assistant", "content": "Reply."},
            {"role": "user", "content": "Third."},
        ]
    )
    assert body["messages"] == [
        {
            "role": "user",
            "content": [{"type": "text", "text": "First."}, {"type": "text", "text": "Second."}],
        },
        {"role": "assistant", "content": [{"type": "text", "text": "Reply."}]},
        {"role": "user", "content": [{"type": "text", "text": "Third."}]},
    ]


def test_data_url_image_becomes_a_base64_image_block() -> None:
    """Base64ImageSource: {type: base64, media_type, data} (SDK image_block_param.py)."""
    body = build(
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {
                        "type": "image_url",
                        "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="},
                    },
                ],
            }
        ]
    )
    assert body["messages"][0]["content"][1] == {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="},
    }


def test_http_url_image_becomes_a_url_image_block() -> None:
    """URLImageSource: {type: url, url} (SDK url_image_source_param.py)."""
    url = "https://upload.wikimedia.org/wikipedia/commons/a/a7/Camponotus_flavomarginatus_ant.jpg"
    body = build(
        messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}}]}]
    )
    assert body["messages"][0]["content"] == [
        {"type": "image", "source": {"type": "url", "url": url}}
    ]


def test_data_url_that_is_not_base64_is_refused() -> None:
    with pytest.raises(InvalidRequest, match="anthropic"):
        build(
            messages=[
                {
                    "role": "user",
                    "content": [{"type": "image_url", "image_url": {"url": "data:text/plain,hi"}}],
                }
            ]
        )


def test_tool_calls_and_results_become_tool_use_then_one_user_turn_of_tool_results() -> None:
    """Docs (implement-tool-use): each tool_result goes in the user message right after the
    assistant's tool_use, tool_result blocks first; parallel results share that one message."""
    body = build(
        tools=[WEATHER_TOOL],
        messages=[
            {"role": "user", "content": "Weather in Paris and Rome?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"location": "Paris"}'},
                    },
                    {
                        "id": "call_2",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"location": "Rome"}'},
                    },
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "15 C"},
            {
                "role": "tool",
                "tool_call_id": "call_2",
                "content": [{"type": "text", "text": "20 C"}],
            },
            {"role": "user", "content": "Which is warmer?"},
        ],
    )
    assistant, results = body["messages"][1], body["messages"][2]
    assert assistant == {
        "role": "assistant",
        "content": [
            {
                "type": "tool_use",
                "id": "call_1",
                "name": "get_weather",
                "input": {"location": "Paris"},
            },
            {
                "type": "tool_use",
                "id": "call_2",
                "name": "get_weather",
                "input": {"location": "Rome"},
            },
        ],
    }
    assert results == {
        "role": "user",
        "content": [
            {"type": "tool_result", "tool_use_id": "call_1", "content": "15 C"},
            {
                "type": "tool_result",
                "tool_use_id": "call_2",
                "content": [{"type": "text", "text": "20 C"}],
            },
            {"type": "text", "text": "Which is warmer?"},
        ],
    }
    assert len(body["messages"]) == 3


def test_user_text_between_tool_call_and_result_is_moved_after_the_results() -> None:
    body = build(
        tools=[WEATHER_TOOL],
        messages=[
            {"role": "user", "content": "Weather?"},
            {
                "role": "assistant",
                "tool_calls": [
                    {
                        "id": "c1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": "{}"},
                    }
                ],
            },
            {"role": "user", "content": "Hurry."},
            {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
        ],
    )
    assert [block["type"] for block in body["messages"][2]["content"]] == ["tool_result", "text"]


def test_foreign_tool_call_ids_are_rewritten_the_same_way_in_call_and_result() -> None:
    """tool_use ids must match ^[a-zA-Z0-9_-]+$ (the Messages API's 400 quotes the pattern)."""
    foreign = "functions.get_weather:0"  # the shape some OpenAI-compatible servers mint
    conversation: dict[str, Any] = {
        "tools": [WEATHER_TOOL],
        "messages": [
            {"role": "user", "content": "Weather?"},
            {
                "role": "assistant",
                "tool_calls": [
                    {
                        "id": foreign,
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": "{}"},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": foreign, "content": "sunny"},
        ],
    }
    body = build(**conversation)
    call_id = body["messages"][1]["content"][0]["id"]
    assert call_id != foreign
    assert re.fullmatch(r"[a-zA-Z0-9_-]+", call_id)
    assert body["messages"][2]["content"][0]["tool_use_id"] == call_id
    # deterministic across retries and hops
    assert build(**conversation)["messages"][1]["content"][0]["id"] == call_id


def test_invalid_tool_call_arguments_are_refused_naming_the_message_index() -> None:
    with pytest.raises(InvalidRequest, match=r"messages\[1\]"):
        build(
            messages=[
                {"role": "user", "content": "Weather?"},
                {
                    "role": "assistant",
                    "tool_calls": [
                        {
                            "id": "c1",
                            "type": "function",
                            "function": {"name": "f", "arguments": "{oops"},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "c1", "content": "x"},
            ]
        )


def test_tools_become_name_description_input_schema() -> None:
    """ToolParam: {name, description?, input_schema} (SDK tool_param.py)."""
    body = build(tools=[WEATHER_TOOL])
    assert body["tools"] == [
        {
            "name": "get_weather",
            "description": "Get the current weather in a given location",
            "input_schema": WEATHER_TOOL["function"]["parameters"],
        }
    ]
    assert "tool_choice" not in body  # auto is Anthropic's default


def test_a_tool_without_parameters_gets_an_empty_object_schema() -> None:
    body = build(tools=[{"type": "function", "function": {"name": "now"}}])
    assert body["tools"] == [{"name": "now", "input_schema": {"type": "object", "properties": {}}}]


@pytest.mark.parametrize(
    ("tool_choice", "expected"),
    [
        ("auto", {"type": "auto"}),
        ("required", {"type": "any"}),
        ("none", {"type": "none"}),
        (
            {"type": "function", "function": {"name": "get_weather"}},
            {"type": "tool", "name": "get_weather"},
        ),
    ],
)
def test_every_tool_choice_form_maps_to_anthropic_tool_choice(
    tool_choice: Any, expected: dict[str, Any]
) -> None:
    """ToolChoiceAutoParam / AnyParam / NoneParam / ToolParam (SDK tool_choice_*_param.py)."""
    assert build(tools=[WEATHER_TOOL], tool_choice=tool_choice)["tool_choice"] == expected


def test_parallel_tool_calls_false_becomes_disable_parallel_tool_use() -> None:
    body = build(tools=[WEATHER_TOOL], parallel_tool_calls=False)
    assert body["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}
    body = build(tools=[WEATHER_TOOL], tool_choice="required", parallel_tool_calls=False)
    assert body["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}


def test_sampling_parameters_stop_and_user_are_translated() -> None:
    body = build(temperature=0.2, top_p=0.9, stop="END", user="user-42")
    assert body["temperature"] == 0.2
    assert body["top_p"] == 0.9
    assert body["stop_sequences"] == ["END"]
    assert body["metadata"] == {"user_id": "user-42"}
    assert build(stop=["a", "b"])["stop_sequences"] == ["a", "b"]


def test_temperature_above_one_is_refused_naming_temperature_and_anthropic() -> None:
    """Anthropic's temperature range is 0.0-1.0 (MessageCreateParamsBase.temperature)."""
    with pytest.raises(InvalidRequest, match=r"temperature.*anthropic"):
        build(temperature=1.5)
    assert build(temperature=1.0)["temperature"] == 1.0


@pytest.mark.parametrize(
    ("field", "value"),
    [("n", 2), ("seed", 7)],
)
def test_parameters_anthropic_lacks_are_refused_not_dropped(field: str, value: int) -> None:
    with pytest.raises(InvalidRequest, match=rf"{field}.*anthropic"):
        extra: dict[str, Any] = {field: value}
        build(**extra)


def test_a_message_name_is_refused_not_dropped() -> None:
    with pytest.raises(InvalidRequest, match=r"messages\[0\]\.name.*anthropic"):
        build(messages=[{"role": "user", "content": "Hi", "name": "alice"}])


def test_whitespace_only_stop_sequence_is_refused() -> None:
    with pytest.raises(InvalidRequest, match=r"stop.*anthropic"):
        build(stop=["\n"])


def test_json_schema_uses_structured_outputs_output_config() -> None:
    """OutputConfigParam.format = JSONOutputFormatParam {type: json_schema, schema}."""
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
        "additionalProperties": False,
    }
    body = build(
        response_format={"type": "json_schema", "json_schema": {"name": "city", "schema": schema}}
    )
    assert body["output_config"] == {"format": {"type": "json_schema", "schema": schema}}
    assert "tools" not in body


def test_json_object_forces_the_reserved_json_tool() -> None:
    body = build(response_format={"type": "json_object"})
    assert body["tools"][0]["name"] == JSON_TOOL_NAME
    assert body["tools"][0]["input_schema"] == {"type": "object"}
    assert body["tool_choice"] == {"type": "tool", "name": JSON_TOOL_NAME}


def test_json_schema_via_tool_option_uses_the_forced_tool_with_the_schema() -> None:
    schema = {"type": "object", "properties": {"x": {"type": "integer"}}}
    target = AdapterTarget(
        "anthropic", TARGET.base_url, "claude-3-haiku", {"json_schema_via_tool": True}
    )
    body = build(
        target,
        response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": schema}},
    )
    assert body["tools"][0]["input_schema"] == schema
    assert "output_config" not in body


def test_json_object_with_tools_is_refused() -> None:
    with pytest.raises(InvalidRequest, match=r"response_format.*anthropic"):
        build(tools=[WEATHER_TOOL], response_format={"type": "json_object"})


def test_final_assistant_prefill_loses_trailing_whitespace() -> None:
    """A trailing-whitespace prefill is rejected by the API (provider-formats.md 3.2)."""
    body = build(
        messages=[{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Well, "}]
    )
    assert body["messages"][-1] == {
        "role": "assistant",
        "content": [{"type": "text", "text": "Well,"}],
    }


def test_empty_text_parts_are_skipped_and_a_request_without_turns_is_refused() -> None:
    body = build(messages=[{"role": "user", "content": ""}, {"role": "user", "content": "Hi"}])
    assert body["messages"] == [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}]
    with pytest.raises(InvalidRequest, match="anthropic"):
        build(messages=[{"role": "system", "content": "only a system prompt"}])


def test_metadata_tags_are_not_sent() -> None:
    """cascade's metadata holds caller tags; Anthropic's metadata takes only user_id."""
    assert "metadata" not in build(metadata={"team": "search"})
