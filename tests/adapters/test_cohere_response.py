"""CohereChatAdapter.parse_response and classify_error against Cohere's published shapes.

Response bodies follow cohere-python ``v2/types/v2chat_response.py`` and the docs samples
(https://docs.cohere.com/reference/chat: billed_units 17/12 vs tokens 215/12); finish reasons
from ``types/chat_finish_reason.py``; statuses from ``v2/raw_client.py`` and
https://docs.cohere.com/reference/errors.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from adapters.base import AdapterTarget
from adapters.cohere_chat import STATUS_CLASSES, CohereChatAdapter
from adapters.errors import (
    AuthError,
    ContentBlocked,
    ContextTooLong,
    InvalidRequest,
    ModelNotFound,
    Overloaded,
    ProviderError,
    QuotaExhausted,
    RateLimited,
    ServerError,
    TargetError,
    TransientError,
)

TARGET = AdapterTarget(
    provider="cohere", base_url="https://api.cohere.com", model_id="command-a-03-2025"
)

DOCS_TEXT_RESPONSE: dict[str, Any] = {
    "id": "c14c80c3-18eb-4519-9460-6c92edd8cfb4",
    "finish_reason": "COMPLETE",
    "message": {
        "role": "assistant",
        "content": [
            {"type": "text", "text": "LLMs stand for Large Language Models, "},
            {"type": "text", "text": "which are trained on text."},
        ],
    },
    "usage": {
        "billed_units": {"input_tokens": 17, "output_tokens": 12},
        "tokens": {"input_tokens": 215, "output_tokens": 12},
        "cached_tokens": 64,
    },
}

DOCS_TOOL_RESPONSE: dict[str, Any] = {
    "id": "e7a2bd0b-3a9a-4c6e-8f3b-1d0a5b7c9e11",
    "finish_reason": "TOOL_CALL",
    "message": {
        "role": "assistant",
        "tool_plan": "I will search for the weather in Toronto.",
        "tool_calls": [
            {
                "id": "get_weather_1byjy32y4hvq",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"location":"Toronto"}'},
            }
        ],
    },
    "usage": {
        "billed_units": {"input_tokens": 37, "output_tokens": 28},
        "tokens": {"input_tokens": 913, "output_tokens": 81},
    },
}


def parse(document: dict[str, Any]) -> Any:
    return CohereChatAdapter().parse_response(200, {}, json.dumps(document).encode(), TARGET)


def classify(status: int, message: str | None, headers: dict[str, str] | None = None) -> Any:
    body = b"" if message is None else json.dumps({"message": message}).encode()
    return CohereChatAdapter().classify_error(status, headers or {}, body)


def test_text_parts_are_joined_and_usage_counts_tokens_not_billed_units() -> None:
    parsed = parse(DOCS_TEXT_RESPONSE)
    choice = parsed.choices[0]
    assert choice.message.content == (
        "LLMs stand for Large Language Models, which are trained on text."
    )
    assert choice.finish_reason == "stop"
    assert parsed.id == "c14c80c3-18eb-4519-9460-6c92edd8cfb4"
    assert parsed.model == "command-a-03-2025"
    assert parsed.created > 0
    assert parsed.usage.prompt_tokens == 215
    assert parsed.usage.completion_tokens == 12
    assert parsed.usage.total_tokens == 227
    assert parsed.usage.cached_tokens == 64


def test_billed_units_are_used_only_when_tokens_are_missing() -> None:
    document = {
        **DOCS_TEXT_RESPONSE,
        "usage": {"billed_units": {"input_tokens": 17.0, "output_tokens": 12.0}},
    }
    usage = parse(document).usage
    assert (usage.prompt_tokens, usage.completion_tokens) == (17, 12)


def test_tool_calls_come_back_with_json_string_arguments_and_the_plan_as_content() -> None:
    choice = parse(DOCS_TOOL_RESPONSE).choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.tool_calls is not None
    call = choice.message.tool_calls[0]
    assert call.id == "get_weather_1byjy32y4hvq"
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"location": "Toronto"}
    assert choice.message.content == "I will search for the weather in Toronto."


def test_object_arguments_are_serialised() -> None:
    document = json.loads(json.dumps(DOCS_TOOL_RESPONSE))
    document["message"]["tool_calls"][0]["function"]["arguments"] = {"location": "Oslo"}
    call = parse(document).choices[0].message.tool_calls[0]
    assert json.loads(call.function.arguments) == {"location": "Oslo"}


@pytest.mark.parametrize(
    ("native", "expected"),
    [
        ("COMPLETE", "stop"),
        ("STOP_SEQUENCE", "stop"),
        ("MAX_TOKENS", "length"),
        ("TOOL_CALL", "tool_calls"),
        ("SOMETHING_NEW", "stop"),
    ],
)
def test_finish_reason_table(native: str, expected: str) -> None:
    """cohere-python types/chat_finish_reason.py; an unknown value keeps the answer."""
    assert parse({**DOCS_TEXT_RESPONSE, "finish_reason": native}).choices[0].finish_reason == (
        expected
    )


@pytest.mark.parametrize("native", ["ERROR", "TIMEOUT"])
def test_error_and_timeout_finish_reasons_are_server_errors(native: str) -> None:
    with pytest.raises(ServerError):
        parse({**DOCS_TEXT_RESPONSE, "finish_reason": native})


def test_an_unreadable_answer_is_a_server_error() -> None:
    with pytest.raises(ServerError):
        CohereChatAdapter().parse_response(200, {}, b"<html>", TARGET)


def test_an_error_body_with_a_2xx_status_is_classified() -> None:
    body = json.dumps({"message": "too many tokens: size limit exceeded by 12 tokens."})
    with pytest.raises(ContextTooLong):
        CohereChatAdapter().parse_response(200, {}, body.encode(), TARGET)


# --- errors ------------------------------------------------------------------------------


def test_too_many_tokens_400_is_context_too_long() -> None:
    """docs.cohere.com/reference/errors 400 example."""
    message = (
        "too many tokens: size limit exceeded by 11326 tokens. Try using shorter or fewer "
        "inputs, or setting prompt_truncation='AUTO'."
    )
    assert isinstance(classify(400, message), ContextTooLong)


def test_other_400_is_invalid_request() -> None:
    message = "invalid request: temperature must be between 0 and 1.0 inclusive."
    error = classify(400, message)
    assert isinstance(error, InvalidRequest)
    assert error.message == message


def test_401_invalid_api_token_is_auth_error() -> None:
    assert isinstance(classify(401, "invalid api token"), AuthError)


def test_trial_key_monthly_limit_429_is_quota_not_rate_limit() -> None:
    message = (
        "You are using a Trial key, which is limited to 1000 API calls / month. You can "
        "continue to use the Trial key for free or upgrade to a Production key."
    )
    assert isinstance(classify(429, message), QuotaExhausted)


def test_per_minute_429_is_rate_limited_with_retry_after_when_sent() -> None:
    message = "You are past the per minute request limit, please wait and try again later."
    error = classify(429, message, {"Retry-After": "12"})
    assert isinstance(error, RateLimited)
    assert error.retry_after == 12.0


def test_498_is_an_auth_error_and_an_unsafe_498_is_content_blocked() -> None:
    """cohere-python raises InvalidTokenError for 498; a docs revision calls it an unsafe
    request blocked by usage guidelines, so such a message is a safety block."""
    assert isinstance(classify(498, "invalid token"), AuthError)
    assert isinstance(classify(498, "blocked: the request is unsafe"), ContentBlocked)


# every status cohere-python's v2 chat raises on, plus the docs' 402
DOCUMENTED: dict[int, type[ProviderError]] = {
    400: InvalidRequest,
    401: AuthError,
    402: QuotaExhausted,
    403: AuthError,
    404: ModelNotFound,
    422: InvalidRequest,
    429: RateLimited,
    498: AuthError,
    499: ServerError,
    500: ServerError,
    501: ServerError,
    503: Overloaded,
    504: ServerError,
}


@pytest.mark.parametrize(("status", "expected"), sorted(DOCUMENTED.items()))
@pytest.mark.parametrize("message", ["something failed", None])
def test_every_documented_status_maps_to_a_specific_class(
    status: int, expected: type[ProviderError], message: str | None
) -> None:
    error = classify(status, message)
    assert type(error) is expected
    assert type(error) not in {ProviderError, TransientError, TargetError}
    assert error.status_code == status


def test_the_status_table_covers_every_documented_status() -> None:
    assert set(DOCUMENTED) <= set(STATUS_CLASSES)
