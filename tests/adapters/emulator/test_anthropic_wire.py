"""The emulator's Anthropic Messages wire: paths, headers, Messages, tool use, error bodies.

What it answers is checked against the official SDK's types (``anthropic.types.Message``,
``anthropic.types.shared.ErrorResponse``), a test-only dependency (``pip install anthropic``).
"""

from __future__ import annotations

import json
from typing import Any, get_args

import pytest
from starlette.testclient import TestClient

from tests.adapters.emulator.helpers import set_rules

anthropic_types = pytest.importorskip("anthropic.types")
anthropic_shared = pytest.importorskip("anthropic.types.shared")

PATH = "/anthropic/v1/messages"
HEADERS = {"x-api-key": "sk-ant-test", "anthropic-version": "2023-06-01"}
WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Get the current weather in a given location",
    "input_schema": {
        "type": "object",
        "properties": {"location": {"type": "string"}},
        "required": ["location"],
    },
}


def messages_body(text: str = "What is the capital of France?", **extra: Any) -> dict[str, Any]:
    return {
        "model": "claude-sonnet-4-5",
        "max_tokens": 1024,
        "messages": [{"role": "user", "content": text}],
        **extra,
    }


def post(
    client: TestClient, body: dict[str, Any], headers: dict[str, str] | None = None
) -> Any:  # starlette's TestClient may answer with httpx2's Response
    return client.post(PATH, json=body, headers=HEADERS if headers is None else headers)


def test_text_answer_is_a_valid_sdk_message(client: TestClient) -> None:
    response = post(client, messages_body())
    assert response.status_code == 200
    message = anthropic_types.Message.model_validate(response.json())
    assert message.id.startswith("msg_")
    assert message.type == "message"
    assert message.role == "assistant"
    assert message.model == "claude-sonnet-4-5"
    assert message.stop_reason == "end_turn"
    assert message.stop_sequence is None
    assert message.content[0].type == "text"
    assert message.content[0].text.startswith("[anthropic/claude-sonnet-4-5]")
    assert message.usage.cache_creation_input_tokens == 0
    assert message.usage.cache_read_input_tokens == 0
    assert message.usage.input_tokens > 0
    assert response.headers["request-id"].startswith("req_")
    assert "anthropic-ratelimit-requests-remaining" in response.headers


def test_the_same_request_gets_the_same_answer(client: TestClient) -> None:
    assert post(client, messages_body()).json() == post(client, messages_body()).json()


def test_system_string_or_blocks_are_accepted(client: TestClient) -> None:
    for system in ("Be terse.", [{"type": "text", "text": "Be terse."}]):
        assert post(client, messages_body(system=system)).status_code == 200


def test_tools_after_a_user_question_give_a_tool_use_block(client: TestClient) -> None:
    response = post(client, messages_body("Weather in Paris?", tools=[WEATHER_TOOL]))
    message = anthropic_types.Message.model_validate(response.json())
    assert message.stop_reason == "tool_use"
    block = message.content[-1]
    assert block.type == "tool_use"
    assert block.id.startswith("toolu_")
    assert block.name == "get_weather"
    assert set(block.input) == {"location"}


def test_a_tool_result_turn_gets_a_final_text_answer(client: TestClient) -> None:
    body = messages_body(tools=[WEATHER_TOOL])
    body["messages"] = [
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": [
                {
                    "type": "tool_use",
                    "id": "toolu_1",
                    "name": "get_weather",
                    "input": {"location": "Paris"},
                }
            ],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "15 degrees"}],
        },
    ]
    message = anthropic_types.Message.model_validate(post(client, body).json())
    assert message.stop_reason == "end_turn"
    assert message.content[0].type == "text"
    assert "15 degrees" in message.content[0].text


def test_tool_choice_none_answers_in_text_and_forced_tool_calls_it(client: TestClient) -> None:
    none = post(client, messages_body(tools=[WEATHER_TOOL], tool_choice={"type": "none"})).json()
    assert none["stop_reason"] == "end_turn"
    forced = post(
        client,
        messages_body(
            tools=[{"name": "other", "input_schema": {"type": "object"}}, WEATHER_TOOL],
            tool_choice={"type": "tool", "name": "get_weather"},
        ),
    ).json()
    assert forced["content"][-1]["name"] == "get_weather"


def test_structured_output_answers_json_matching_the_schema(client: TestClient) -> None:
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
        "additionalProperties": False,
    }
    body = messages_body(output_config={"format": {"type": "json_schema", "schema": schema}})
    text = post(client, body).json()["content"][0]["text"]
    assert set(json.loads(text)) == {"city"}


def test_small_max_tokens_ends_with_max_tokens(client: TestClient) -> None:
    assert post(client, messages_body(max_tokens=1)).json()["stop_reason"] == "max_tokens"


def test_missing_api_key_is_a_401_authentication_error(client: TestClient) -> None:
    response = post(client, messages_body(), headers={"anthropic-version": "2023-06-01"})
    assert response.status_code == 401
    error = anthropic_shared.ErrorResponse.model_validate(response.json())
    assert error.error.type == "authentication_error"


def test_a_bearer_token_is_not_an_anthropic_key(client: TestClient) -> None:
    response = post(
        client,
        messages_body(),
        headers={"Authorization": "Bearer sk-test", "anthropic-version": "2023-06-01"},
    )
    assert response.status_code == 401


def test_missing_anthropic_version_is_a_400(client: TestClient) -> None:
    response = post(client, messages_body(), headers={"x-api-key": "k"})
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert "anthropic-version" in response.json()["error"]["message"]


def test_missing_max_tokens_is_a_400_naming_it(client: TestClient) -> None:
    """max_tokens is Required in MessageCreateParamsBase."""
    body = messages_body()
    del body["max_tokens"]
    response = post(client, body)
    assert response.status_code == 400
    error = anthropic_shared.ErrorResponse.model_validate(response.json())
    assert error.error.type == "invalid_request_error"
    assert error.error.message.startswith("max_tokens")


@pytest.mark.parametrize(
    "extra",
    [
        {"temperature": 1.5},
        {"messages": [{"role": "system", "content": "no system role in messages"}]},
        {"messages": []},
    ],
)
def test_invalid_bodies_are_400_invalid_request_errors(
    client: TestClient, extra: dict[str, Any]
) -> None:
    response = post(client, messages_body(**extra))
    assert response.status_code == 400
    assert response.json()["type"] == "error"
    assert response.json()["error"]["type"] == "invalid_request_error"


@pytest.mark.parametrize(
    ("rule", "status", "error_type"),
    [
        ({"kind": "status"}, 503, "overloaded_error"),
        ({"kind": "status", "status": 529}, 529, "overloaded_error"),
        ({"kind": "status", "status": 500}, 500, "api_error"),
        ({"kind": "status", "status": 400}, 400, "invalid_request_error"),
        ({"kind": "status", "status": 401}, 401, "authentication_error"),
        ({"kind": "status", "status": 403}, 403, "permission_error"),
        ({"kind": "status", "status": 404}, 404, "not_found_error"),
        ({"kind": "status", "status": 413}, 413, "request_too_large"),
        ({"kind": "timeout", "hang_s": 0}, 504, "timeout_error"),
        ({"kind": "status", "error_code": "context_length_exceeded"}, 400, "invalid_request_error"),
    ],
)
def test_faults_answer_in_anthropic_error_shape(
    client: TestClient, rule: dict[str, Any], status: int, error_type: str
) -> None:
    set_rules(client, {"provider": "anthropic", **rule})
    response = post(client, messages_body())
    assert response.status_code == status
    payload = response.json()
    assert payload["type"] == "error"
    assert payload["error"]["type"] == error_type
    assert payload["request_id"].startswith("req_")
    # the docs' 413 type request_too_large is missing from the SDK's ErrorType (2.13.0)
    if error_type in get_args(anthropic_shared.ErrorType):
        anthropic_shared.ErrorResponse.model_validate(payload)


def test_rate_limit_fault_is_a_429_rate_limit_error_with_retry_after(client: TestClient) -> None:
    set_rules(client, {"provider": "anthropic", "kind": "rate_limit", "retry_after": 3})
    response = post(client, messages_body())
    assert response.status_code == 429
    assert response.json()["error"]["type"] == "rate_limit_error"
    assert response.headers["retry-after"] == "3"


def test_quota_fault_is_a_429_with_spend_limit_details_and_no_retry_after(
    client: TestClient,
) -> None:
    set_rules(
        client, {"provider": "anthropic", "kind": "rate_limit", "error_code": "insufficient_quota"}
    )
    response = post(client, messages_body())
    assert response.status_code == 429
    assert response.json()["error"]["details"] == {"error_code": "enforced_spend_limit_reached"}
    assert "retry-after" not in response.headers


def test_context_fault_says_prompt_is_too_long(client: TestClient) -> None:
    set_rules(client, {"provider": "anthropic", "error_code": "context_length_exceeded"})
    assert post(client, messages_body()).json()["error"]["message"].startswith("prompt is too long")


def test_a_final_assistant_turn_is_continued_not_answered_anew(client: TestClient) -> None:
    # "Prefill Claude's response": the answer goes on from the assistant turn and holds only
    # what follows it (https://docs.claude.com/en/docs/prefill-claudes-response).
    whole = post(client, messages_body()).json()["content"][0]["text"]
    start = " ".join(whole.split()[:4])
    body = messages_body()
    body["messages"].append({"role": "assistant", "content": start})
    answer = post(client, body).json()

    assert start + answer["content"][0]["text"] == whole
    assert (
        answer["usage"]["output_tokens"]
        < post(client, messages_body()).json()["usage"]["output_tokens"]
    )


def test_a_prefill_that_ends_in_whitespace_is_a_400_as_anthropic_says(client: TestClient) -> None:
    body = messages_body()
    body["messages"].append({"role": "assistant", "content": "Paris is "})
    response = post(client, body)

    assert response.status_code == 400
    assert "trailing whitespace" in response.json()["error"]["message"]
