"""The emulator speaking Gemini's generateContent (in-process, starlette TestClient).

Answers are checked with python-genai's own ``types.GenerateContentResponse`` (extra fields
forbidden), error bodies against https://ai.google.dev/gemini-api/docs/troubleshooting and the
bodies quoted in provider-formats.md section 4.4.
"""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from adapters.emulator.content import estimate_tokens
from tests.adapters.emulator.helpers import set_rules

PATH = "/gemini/v1beta/models/gemini-2.5-flash:generateContent"
KEY = {"x-goog-api-key": "AIza-test"}
TOOL = {
    "functionDeclarations": [
        {
            "name": "get_weather",
            "parametersJsonSchema": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        }
    ]
}


def ask(text: str = "What is the capital of France?", **extra: Any) -> dict[str, Any]:
    return {"contents": [{"role": "user", "parts": [{"text": text}]}], **extra}


def post(
    client: TestClient, body: dict[str, Any], path: str = PATH, headers: dict[str, str] = KEY
) -> Any:
    return client.post(path, json=body, headers=headers)


def test_text_answer_parses_as_a_python_genai_response(client: TestClient) -> None:
    types = pytest.importorskip("google.genai.types")
    response = post(client, ask())
    assert response.status_code == 200
    parsed = types.GenerateContentResponse.model_validate(response.json())
    assert parsed.text is not None and parsed.text.startswith("[gemini/gemini-2.5-flash] ")
    candidate = (parsed.candidates or [])[0]
    assert candidate.content is not None and candidate.content.role == "model"
    assert candidate.finish_reason == types.FinishReason.STOP
    assert parsed.model_version == "gemini-2.5-flash"
    assert parsed.response_id


def test_usage_follows_the_documented_estimate(client: TestClient) -> None:
    text = "What is the capital of France?"
    body = post(client, ask(text)).json()
    usage = body["usageMetadata"]
    assert usage["promptTokenCount"] == 3 + 4 + estimate_tokens(text)
    answer = body["candidates"][0]["content"]["parts"][0]["text"]
    assert usage["candidatesTokenCount"] == estimate_tokens(answer)
    assert usage["totalTokenCount"] == usage["promptTokenCount"] + usage["candidatesTokenCount"]


def test_tools_give_a_signed_function_call(client: TestClient) -> None:
    types = pytest.importorskip("google.genai.types")
    response = post(client, ask("Weather in Paris?", tools=[TOOL]))
    parsed = types.GenerateContentResponse.model_validate(response.json())
    (call,) = parsed.function_calls or []
    assert call.name == "get_weather" and set(call.args or {}) == {"city"}
    part = response.json()["candidates"][0]["content"]["parts"][0]
    assert part["thoughtSignature"]


def test_after_a_function_response_the_answer_is_text(client: TestClient) -> None:
    first = post(client, ask("Weather in Paris?", tools=[TOOL])).json()
    model_turn = first["candidates"][0]["content"]
    body = ask("Weather in Paris?", tools=[TOOL])
    body["contents"] += [
        model_turn,
        {
            "role": "user",
            "parts": [
                {"functionResponse": {"name": "get_weather", "response": {"output": "sunny"}}}
            ],
        },
    ]
    answer = post(client, body).json()["candidates"][0]
    assert answer["content"]["parts"][0]["text"].startswith("[gemini/gemini-2.5-flash] Based on")
    assert answer["finishReason"] == "STOP"


def test_gemini_3_refuses_an_unsigned_function_call_in_history(client: TestClient) -> None:
    """Gemini 3's 400 (https://ai.google.dev/gemini-api/docs/thought-signatures)."""
    body = ask("Weather?", tools=[TOOL])
    body["contents"] += [
        {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {}}}]},
        {"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "response": {}}}]},
    ]
    path = "/gemini/v1beta/models/gemini-3-flash:generateContent"
    response = post(client, body, path)
    assert response.status_code == 400
    assert "thought_signature" in response.json()["error"]["message"]
    body["contents"][1]["parts"][0]["thoughtSignature"] = "skip_thought_signature_validator"
    assert post(client, body, path).status_code == 200


def test_function_calling_mode_none_answers_in_text(client: TestClient) -> None:
    body = ask(tools=[TOOL], toolConfig={"functionCallingConfig": {"mode": "NONE"}})
    part = post(client, body).json()["candidates"][0]["content"]["parts"][0]
    assert "text" in part


def test_max_output_tokens_cuts_the_answer_with_max_tokens(client: TestClient) -> None:
    body = ask(generationConfig={"maxOutputTokens": 2})
    assert post(client, body).json()["candidates"][0]["finishReason"] == "MAX_TOKENS"


def test_candidate_count_gives_several_indexed_candidates(client: TestClient) -> None:
    body = ask(generationConfig={"candidateCount": 2})
    candidates = post(client, body).json()["candidates"]
    assert [c["index"] for c in candidates] == [0, 1]


def test_missing_key_is_403_permission_denied(client: TestClient) -> None:
    response = post(client, ask(), headers={})
    assert response.status_code == 403
    assert response.json()["error"]["status"] == "PERMISSION_DENIED"
    assert response.json()["error"]["code"] == 403


def test_invalid_body_is_400_invalid_argument(client: TestClient) -> None:
    response = post(client, {"contents": []})
    assert response.status_code == 400
    assert response.json()["error"]["status"] == "INVALID_ARGUMENT"


def test_rate_limit_fault_carries_retry_info_in_the_body(client: TestClient) -> None:
    set_rules(client, {"provider": "gemini", "kind": "rate_limit", "retry_after": 37})
    response = post(client, ask())
    assert response.status_code == 429
    error = response.json()["error"]
    assert error["status"] == "RESOURCE_EXHAUSTED"
    retry = [d for d in error["details"] if d["@type"].endswith("google.rpc.RetryInfo")]
    assert retry == [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "37s"}]


def test_insufficient_quota_fault_names_a_per_day_quota(client: TestClient) -> None:
    rule = {"provider": "gemini", "kind": "rate_limit", "error_code": "insufficient_quota"}
    set_rules(client, rule)
    error = post(client, ask()).json()["error"]
    (quota,) = [d for d in error["details"] if d["@type"].endswith("QuotaFailure")]
    assert "PerDay" in quota["violations"][0]["quotaId"]


@pytest.mark.parametrize(
    ("rule", "status", "name"),
    [
        ({"status": 503}, 503, "UNAVAILABLE"),
        ({"status": 500}, 500, "INTERNAL"),
        ({"status": 400}, 400, "INVALID_ARGUMENT"),
        ({"kind": "timeout", "hang_s": 0}, 504, "DEADLINE_EXCEEDED"),
        ({"error_code": "FAILED_PRECONDITION"}, 400, "FAILED_PRECONDITION"),
    ],
)
def test_status_faults_use_googles_status_names(
    client: TestClient, rule: dict[str, Any], status: int, name: str
) -> None:
    set_rules(client, {"provider": "gemini", **rule})
    response = post(client, ask())
    assert response.status_code == status
    assert response.json()["error"] == {
        "code": status,
        "message": response.json()["error"]["message"],
        "status": name,
    }


def test_api_key_invalid_fault_is_400_with_error_info(client: TestClient) -> None:
    """Body as reported in continuedev/continue#10290."""
    set_rules(client, {"provider": "gemini", "error_code": "API_KEY_INVALID"})
    error = post(client, ask()).json()["error"]
    assert error["code"] == 400 and error["status"] == "INVALID_ARGUMENT"
    assert error["details"][0]["reason"] == "API_KEY_INVALID"


def test_emulated_errors_parse_as_python_genai_api_errors(client: TestClient) -> None:
    errors = pytest.importorskip("google.genai.errors")
    set_rules(client, {"provider": "gemini", "status": 503})
    response = post(client, ask())
    error = errors.APIError(response.status_code, response.json())
    assert error.status == "UNAVAILABLE" and error.code == 503


def test_logprobs_when_asked_parse_in_python_genai_and_reach_openai_shape(
    client: TestClient,
) -> None:
    """python-genai ``LogprobsResult`` (chosen_candidates, top_candidates), as the adapter turns
    it into OpenAI's ``choices[].logprobs``."""
    types = pytest.importorskip("google.genai.types")
    from adapters.base import AdapterTarget
    from adapters.gemini import GeminiAdapter
    from adapters.gemini.request import request_body
    from broker.jobs import CompletionRequest

    request = CompletionRequest.model_validate(
        {"messages": [{"role": "user", "content": "hi"}], "logprobs": True, "top_logprobs": 3}
    )
    body = request_body(request, "gemini-2.5-flash")
    assert body["generationConfig"]["responseLogprobs"] is True
    assert body["generationConfig"]["logprobs"] == 3
    response = post(client, body)
    parsed = types.GenerateContentResponse.model_validate(response.json())
    result = (parsed.candidates or [])[0].logprobs_result
    assert result is not None and result.chosen_candidates
    target = AdapterTarget(provider="google", base_url="http://e", model_id="gemini-2.5-flash")
    choice = GeminiAdapter().parse_response(200, {}, response.content, target).choices[0]
    assert choice.logprobs is not None
    first = choice.logprobs["content"][0]
    assert first["token"] == result.chosen_candidates[0].token
    assert len(first["top_logprobs"]) == 3
    assert "logprobsResult" not in post(client, ask()).json()["candidates"][0]
