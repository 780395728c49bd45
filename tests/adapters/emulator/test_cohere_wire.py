"""The emulator's Cohere Chat v2 wire: paths, auth, bodies, faults, and the SDK's reading of them.

Shapes: cohere-python ``v2/types/v2chat_response.py`` (V2ChatResponse) and
https://docs.cohere.com/reference/errors (``{"message": ...}``, 401 ``invalid api token``).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from starlette.testclient import TestClient

from adapters.base import AdapterTarget
from adapters.cohere_chat import CohereChatAdapter
from adapters.errors import AuthError, ContextTooLong, Overloaded, QuotaExhausted, RateLimited
from broker.jobs import CompletionRequest
from tests.adapters.emulator.helpers import AUTH, WEATHER_TOOL, set_rules

PATH = "/cohere/v2/chat"
def cohere_body(text: str = "What is the capital of France?", **extra: Any) -> dict[str, Any]:
    return {"model": "command-a-03-2025", "messages": [{"role": "user", "content": text}], **extra}


def post(client: TestClient, body: dict[str, Any] | None = None) -> Any:
    return client.post(PATH, json=body if body is not None else cohere_body(), headers=AUTH)


def test_text_answer_has_v2_shape(client: TestClient) -> None:
    response = post(client)
    assert response.status_code == 200
    answer = response.json()
    assert answer["finish_reason"] == "COMPLETE"
    assert answer["message"]["role"] == "assistant"
    assert answer["message"]["content"][0]["type"] == "text"
    assert "command-a-03-2025" in answer["message"]["content"][0]["text"]
    usage = answer["usage"]
    assert usage["tokens"]["input_tokens"] > usage["billed_units"]["input_tokens"] > 0
    assert usage["tokens"]["output_tokens"] == usage["billed_units"]["output_tokens"] > 0


def test_tool_answer_has_tool_plan_and_calls(client: TestClient) -> None:
    answer = post(client, cohere_body(tools=[WEATHER_TOOL], tool_choice="REQUIRED")).json()
    assert answer["finish_reason"] == "TOOL_CALL"
    call = answer["message"]["tool_calls"][0]
    assert call["function"]["name"] == "get_weather"
    assert "city" in json.loads(call["function"]["arguments"])
    assert answer["message"]["tool_plan"]


def test_max_tokens_cut_is_max_tokens_finish(client: TestClient) -> None:
    assert post(client, cohere_body(max_tokens=1)).json()["finish_reason"] == "MAX_TOKENS"


def test_json_schema_answer_follows_the_schema(client: TestClient) -> None:
    schema = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}
    answer = post(
        client, cohere_body(response_format={"type": "json_object", "json_schema": schema})
    ).json()
    assert set(json.loads(answer["message"]["content"][0]["text"])) == {"name"}


def test_missing_bearer_is_401_invalid_api_token(client: TestClient) -> None:
    response = client.post(PATH, json=cohere_body())
    assert response.status_code == 401
    assert response.json() == {"message": "invalid api token"}


def test_invalid_body_is_400_with_a_message(client: TestClient) -> None:
    response = post(client, cohere_body(temperature=1.5))
    assert response.status_code == 400
    assert response.json()["message"].startswith("invalid request:")
    assert "temperature" in response.json()["message"]


def test_faults_answer_in_cohere_error_shape(client: TestClient) -> None:
    set_rules(
        client,
        {"provider": "cohere", "kind": "rate_limit", "first_n": 1, "retry_after": 3},
        # each rule counts every call it matches: the second fires on the second call
        {"provider": "cohere", "kind": "status", "status": 503, "first_n": 2},
    )
    limited = post(client)
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "3"
    assert set(limited.json()) == {"message"}
    unavailable = post(client)
    assert unavailable.status_code == 503
    assert set(unavailable.json()) == {"message"}
    assert post(client).status_code == 200


# --- the adapter against the emulator ----------------------------------------------------


def adapter_call(client: TestClient, request: CompletionRequest, key: str = "co-key") -> Any:
    adapter = CohereChatAdapter()
    target = AdapterTarget(
        provider="cohere", base_url="http://testserver/cohere", model_id="command-a-03-2025"
    )
    call = adapter.build_request(request, target, key)
    response = client.post(call.url, json=dict(call.json), headers=dict(call.headers))
    if response.status_code != 200:
        raise adapter.classify_error(response.status_code, response.headers, response.content)
    return adapter.parse_response(200, response.headers, response.content, target)


def test_adapter_errors_from_emulated_faults_are_classified(client: TestClient) -> None:
    set_rules(
        client,
        # rule k fires on call k: every rule counts each call it matches
        {"provider": "cohere", "error_code": "context_length_exceeded", "first_n": 1},
        {
            "provider": "cohere",
            "kind": "rate_limit",
            "error_code": "insufficient_quota",
            "first_n": 2,
        },
        {"provider": "cohere", "kind": "rate_limit", "first_n": 3},
        {"provider": "cohere", "status": 503, "first_n": 4},
    )
    request = CompletionRequest.model_validate({"messages": [{"role": "user", "content": "hi"}]})
    for expected in (ContextTooLong, QuotaExhausted, RateLimited, Overloaded):
        with pytest.raises(expected):
            adapter_call(client, request)
    with pytest.raises(AuthError):
        adapter_call(client, request, key="")


def test_a_rerouted_tool_conversation_runs_through_the_adapter(client: TestClient) -> None:
    """A conversation started on OpenAI (call_ ids) continues on Cohere over two turns."""
    first = CompletionRequest.model_validate(
        {"messages": [{"role": "user", "content": "Weather in Paris?"}], "tools": [WEATHER_TOOL]}
    )
    turn = adapter_call(client, first)
    assert turn.choices[0].finish_reason == "tool_calls"
    calls = turn.choices[0].message.tool_calls
    second = CompletionRequest.model_validate(
        {
            "messages": [
                {"role": "user", "content": "Weather in Paris?"},
                {
                    "role": "assistant",
                    "content": turn.choices[0].message.content,
                    "tool_calls": [call.model_dump() for call in calls],
                },
                {"role": "tool", "tool_call_id": calls[0].id, "content": '{"temp_c": 18}'},
            ],
            "tools": [WEATHER_TOOL],
        }
    )
    answer = adapter_call(client, second)
    assert answer.choices[0].finish_reason == "stop"
    assert "temp_c" in (answer.choices[0].message.content or "")
    assert answer.usage.prompt_tokens > 0


# --- the official SDK --------------------------------------------------------------------


def test_answers_validate_as_the_sdk_v2_chat_response(client: TestClient) -> None:
    cohere = pytest.importorskip("cohere")
    from cohere.v2.types.v2chat_response import V2ChatResponse

    for body in (cohere_body(), cohere_body(tools=[WEATHER_TOOL], tool_choice="REQUIRED")):
        parsed = V2ChatResponse.model_validate(post(client, body).json())
        assert parsed.finish_reason in ("COMPLETE", "TOOL_CALL")
        assert parsed.usage is not None and parsed.usage.tokens is not None
    assert cohere.__version__


def test_sdk_client_reads_answers_and_maps_emulated_errors(client: TestClient) -> None:
    """cohere-python v2/raw_client.py raises UnauthorizedError on 401, TooManyRequestsError
    on 429."""
    cohere = pytest.importorskip("cohere")
    from cohere.errors import TooManyRequestsError, UnauthorizedError

    sdk = cohere.ClientV2(
        api_key="co-key", base_url="http://testserver/cohere", httpx_client=client
    )
    answer = sdk.chat(model="command-a-03-2025", messages=[{"role": "user", "content": "hi"}])
    assert answer.message.content is not None and answer.message.content[0].type == "text"
    set_rules(client, {"provider": "cohere", "kind": "rate_limit", "first_n": 1})
    with pytest.raises(TooManyRequestsError):
        sdk.chat(
            model="command-a-03-2025",
            messages=[{"role": "user", "content": "hi"}],
            request_options={"max_retries": 0},  # the SDK retries 429 by default
        )
    bad = cohere.ClientV2(api_key="", base_url="http://testserver/cohere", httpx_client=client)
    with pytest.raises(UnauthorizedError):
        bad.chat(model="command-a-03-2025", messages=[{"role": "user", "content": "hi"}])
