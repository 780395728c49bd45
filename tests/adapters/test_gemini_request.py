"""GeminiAdapter.build_request: OpenAI's request rebuilt as a generateContent body.

Target shapes: https://ai.google.dev/api/generate-content (GenerateContentRequest, Content, Part,
GenerationConfig, ToolConfig) and python-genai ``models.py``/``types.py`` (camelCase fields);
the mapping is provider-formats.md section 4.2.
"""

from __future__ import annotations

from typing import Any

import pytest

from adapters.errors import InvalidRequest
from adapters.gemini import GeminiAdapter
from adapters.gemini.signatures import (
    MIGRATED_SIGNATURE,
    decode_tool_call_id,
    encode_tool_call_id,
)
from broker.jobs import CompletionRequest
from tests.adapters.gemini_samples import TARGET

ADAPTER = GeminiAdapter()
WEATHER_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
            "additionalProperties": False,
        },
    },
}


def body_for(**request: Any) -> dict[str, Any]:
    call = ADAPTER.build_request(CompletionRequest.model_validate(request), TARGET, "AIza-key")
    return dict(call.json)


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


def test_url_is_the_models_generate_content_path_with_the_key_in_x_goog_api_key() -> None:
    """Endpoint and header as in python-genai _api_client.py and Google's REST samples."""
    call = ADAPTER.build_request(
        CompletionRequest.model_validate({"messages": [user("hi")]}), TARGET, "AIza-key"
    )
    assert call.method == "POST"
    assert call.url == (
        "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent"
    )
    assert call.headers["x-goog-api-key"] == "AIza-key"
    assert "Authorization" not in call.headers


def test_emulator_base_url_only_gets_the_native_path_appended() -> None:
    target = TARGET.__class__("gemini", "http://127.0.0.1:9/gemini/", "models/gemini-3-flash")
    call = ADAPTER.build_request(
        CompletionRequest.model_validate({"messages": [user("hi")]}), target, "k"
    )
    assert call.url == "http://127.0.0.1:9/gemini/v1beta/models/gemini-3-flash:generateContent"


def test_system_and_developer_messages_become_one_system_instruction() -> None:
    body = body_for(
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "developer", "content": [{"type": "text", "text": "Answer in French."}]},
            user("Hello"),
        ]
    )
    assert body["systemInstruction"] == {"parts": [{"text": "Be brief.\n\nAnswer in French."}]}
    assert body["contents"] == [{"role": "user", "parts": [{"text": "Hello"}]}]


def test_assistant_turns_become_model_turns_in_order() -> None:
    body = body_for(
        messages=[user("Hi"), {"role": "assistant", "content": "Hello!"}, user("How are you?")]
    )
    assert [c["role"] for c in body["contents"]] == ["user", "model", "user"]
    assert body["contents"][1]["parts"] == [{"text": "Hello!"}]


def test_data_url_image_becomes_inline_data() -> None:
    """Part.inlineData {mimeType, data} (https://ai.google.dev/api/caching#Blob)."""
    body = body_for(
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0K"}},
                ],
            }
        ]
    )
    assert body["contents"][0]["parts"] == [
        {"text": "What is this?"},
        {"inlineData": {"mimeType": "image/png", "data": "iVBORw0K"}},
    ]


def test_https_image_url_becomes_file_data_which_the_api_fetches() -> None:
    """External https URLs in fileData.fileUri: Google's 2026-01-12 announcement
    (blog.google .../gemini-api-new-file-limits) and
    ai.google.dev/gemini-api/docs/file-input-methods."""
    url = "https://example.com/cat.jpg"
    body = body_for(
        messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}}]}]
    )
    assert body["contents"][0]["parts"] == [{"fileData": {"fileUri": url}}]


@pytest.mark.parametrize(
    "url", ["http://example.com/cat.jpg", "data:image/png,not-base64"]
)
def test_unsupported_image_urls_are_refused_naming_the_parameter_and_provider(url: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        body_for(
            messages=[
                {"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}}]}
            ]
        )
    assert "messages[0].content[0].image_url.url" in caught.value.message
    assert "Gemini" in caught.value.message


def tool_history(call_id: str = "call_abc") -> list[dict[str, Any]]:
    return [
        user("Weather in Paris and Rome?"),
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": call_id,
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                },
                {
                    "id": "call_def",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Rome"}'},
                },
            ],
        },
        {"role": "tool", "tool_call_id": call_id, "content": '{"temp": 21}'},
        {"role": "tool", "tool_call_id": "call_def", "content": "sunny"},
    ]


def test_tool_calls_become_function_call_parts_and_results_one_user_turn() -> None:
    """functionCall/functionResponse parts; python-genai chats.py sends function responses with
    role "user"; FunctionResponse docstring: use the "output" key for the output."""
    body = body_for(messages=tool_history(), tools=[WEATHER_TOOL])
    model_turn, results = body["contents"][1], body["contents"][2]
    assert model_turn["role"] == "model"
    assert [p["functionCall"] for p in model_turn["parts"]] == [
        {"name": "get_weather", "args": {"city": "Paris"}},
        {"name": "get_weather", "args": {"city": "Rome"}},
    ]
    assert results == {
        "role": "user",
        "parts": [
            {"functionResponse": {"name": "get_weather", "response": {"output": {"temp": 21}}}},
            {"functionResponse": {"name": "get_weather", "response": {"output": "sunny"}}},
        ],
    }
    assert len(body["contents"]) == 3


def test_history_without_signatures_gets_googles_placeholder_on_the_first_call_only() -> None:
    """https://ai.google.dev/gemini-api/docs/thought-signatures (FAQ: history from other
    models) documents the placeholder; parallel calls carry a signature on the first only."""
    body = body_for(messages=tool_history("toolu_01A09q90qw90lq917835lq9"), tools=[WEATHER_TOOL])
    parts = body["contents"][1]["parts"]
    assert parts[0]["thoughtSignature"] == MIGRATED_SIGNATURE
    assert "thoughtSignature" not in parts[1]


def test_signature_carried_in_the_tool_call_id_goes_back_unchanged() -> None:
    signature = "CiQBcsjafH8+Ui0m/w=="
    call_id = encode_tool_call_id("call_0123456789abcdef01234567", signature)
    assert decode_tool_call_id(call_id) == ("call_0123456789abcdef01234567", signature)
    body = body_for(messages=tool_history(call_id), tools=[WEATHER_TOOL])
    assert body["contents"][1]["parts"][0]["thoughtSignature"] == signature


def test_signature_id_uses_only_characters_anthropic_accepts_in_tool_ids() -> None:
    """Anthropic validates tool_use ids against ^[a-zA-Z0-9_-]+$: a reroute keeps the id."""
    call_id = encode_tool_call_id("call_ab", "+/+/AAA=")
    assert all(ch.isalnum() or ch in "_-" for ch in call_id)


def test_tool_result_with_an_unknown_id_is_refused_naming_the_message() -> None:
    messages = [user("hi"), {"role": "tool", "tool_call_id": "nope", "content": "x"}]
    with pytest.raises(InvalidRequest) as caught:
        body_for(messages=messages)
    assert "messages[1].tool_call_id" in caught.value.message


def test_non_object_tool_arguments_are_refused() -> None:
    messages = tool_history()
    messages[1]["tool_calls"][0]["function"]["arguments"] = "[1, 2]"
    with pytest.raises(InvalidRequest) as caught:
        body_for(messages=messages)
    assert "messages[1].tool_calls[0].function.arguments" in caught.value.message


def test_tools_become_one_tool_with_function_declarations_in_json_schema() -> None:
    """FunctionDeclaration.parametersJsonSchema takes standard JSON Schema
    (https://ai.google.dev/api/caching#FunctionDeclaration; python-genai parameters_json_schema)."""
    body = body_for(messages=[user("hi")], tools=[WEATHER_TOOL])
    assert body["tools"] == [
        {
            "functionDeclarations": [
                {
                    "name": "get_weather",
                    "description": "Current weather",
                    "parametersJsonSchema": WEATHER_TOOL["function"]["parameters"],
                }
            ]
        }
    ]
    assert body["toolConfig"] == {"functionCallingConfig": {"mode": "AUTO"}}


@pytest.mark.parametrize(
    ("tool_choice", "config"),
    [
        ("none", {"mode": "NONE"}),
        ("auto", {"mode": "AUTO"}),
        ("required", {"mode": "ANY"}),
        (
            {"type": "function", "function": {"name": "get_weather"}},
            {"mode": "ANY", "allowedFunctionNames": ["get_weather"]},
        ),
    ],
)
def test_every_tool_choice_maps_to_a_function_calling_mode(
    tool_choice: Any, config: dict[str, Any]
) -> None:
    """FunctionCallingConfig modes (https://ai.google.dev/api/caching#FunctionCallingConfig)."""
    body = body_for(messages=[user("hi")], tools=[WEATHER_TOOL], tool_choice=tool_choice)
    assert body["toolConfig"] == {"functionCallingConfig": config}


def test_parallel_tool_calls_false_is_refused_naming_parameter_and_provider() -> None:
    with pytest.raises(InvalidRequest) as caught:
        body_for(messages=[user("hi")], tools=[WEATHER_TOOL], parallel_tool_calls=False)
    assert "parallel_tool_calls" in caught.value.message
    assert "Gemini" in caught.value.message


def test_sampling_parameters_go_into_generation_config() -> None:
    body = body_for(
        messages=[user("hi")],
        temperature=0.2,
        top_p=0.9,
        max_tokens=100,
        stop="END",
        n=2,
        seed=7,
    )
    assert body["generationConfig"] == {
        "temperature": 0.2,
        "topP": 0.9,
        "maxOutputTokens": 100,
        "seed": 7,
        "stopSequences": ["END"],
        "candidateCount": 2,
    }


def test_max_completion_tokens_wins_over_max_tokens() -> None:
    body = body_for(messages=[user("hi")], max_tokens=100, max_completion_tokens=50)
    assert body["generationConfig"]["maxOutputTokens"] == 50


def test_json_object_sets_the_json_response_mime_type() -> None:
    body = body_for(messages=[user("hi")], response_format={"type": "json_object"})
    assert body["generationConfig"] == {"responseMimeType": "application/json"}


def test_json_schema_is_sent_as_response_json_schema() -> None:
    """GenerationConfig.responseJsonSchema (https://ai.google.dev/api/generate-content)."""
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}
    body = body_for(
        messages=[user("hi")],
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "answer", "schema": schema, "strict": True},
        },
    )
    assert body["generationConfig"] == {
        "responseMimeType": "application/json",
        "responseJsonSchema": schema,
    }


def test_plain_request_has_no_generation_config_or_tools() -> None:
    body = body_for(messages=[user("hi")])
    assert set(body) == {"contents"}
