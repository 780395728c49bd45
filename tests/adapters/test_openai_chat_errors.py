"""OpenAIChatAdapter.classify_error: every documented status and error body to one error class.

Bodies: tests/adapters/openai_samples.py (sources named there). Statuses: openai-python
``_client.py`` status -> exception map and shared/reference/provider-formats.md sections 0.3,
1.3 and 1.4.
"""

from __future__ import annotations

import json

import pytest

from adapters.errors import (
    AuthError,
    ContentBlocked,
    ContextTooLong,
    InvalidRequest,
    ModelNotFound,
    Overloaded,
    ProviderError,
    ProviderTimeout,
    QuotaExhausted,
    RateLimited,
    ServerError,
    TargetError,
    TransientError,
)
from adapters.openai_chat import OpenAIChatAdapter
from tests.adapters import openai_samples as samples

DOCUMENTED_STATUSES = [400, 401, 402, 403, 404, 408, 409, 413, 422, 429, 500, 502, 503, 504]
# the classes that only group others: an error must never end up as one of these
GROUPING_CLASSES = {ProviderError, TransientError, TargetError}
BARE_BODY = json.dumps(
    {"error": {"message": "something went wrong", "type": None, "param": None, "code": None}}
).encode()


def classify(status: int, body: bytes, headers: dict[str, str] | None = None) -> ProviderError:
    return OpenAIChatAdapter().classify_error(status, headers or {}, body)


@pytest.mark.parametrize("status", DOCUMENTED_STATUSES)
@pytest.mark.parametrize("body", [BARE_BODY, b"", b"<html>error</html>"])
def test_no_documented_status_is_left_to_a_grouping_class(status: int, body: bytes) -> None:
    error = classify(status, body)
    assert type(error) not in GROUPING_CLASSES
    assert error.status_code == status


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (400, InvalidRequest),
        (401, AuthError),
        (402, QuotaExhausted),
        (403, AuthError),
        (404, ModelNotFound),
        (408, ProviderTimeout),
        (409, ServerError),
        (413, InvalidRequest),
        (422, InvalidRequest),
        (429, RateLimited),
        (500, ServerError),
        (502, ServerError),
        (503, Overloaded),
        (504, ServerError),
    ],
)
def test_status_without_a_known_code_maps_to_its_class(
    status: int, expected: type[ProviderError]
) -> None:
    assert type(classify(status, BARE_BODY)) is expected


@pytest.mark.parametrize(
    ("status", "sample", "expected"),
    [
        (401, "invalid_api_key", AuthError),
        (400, "context_length_exceeded", ContextTooLong),
        (404, "model_not_found", ModelNotFound),
        (400, "model_not_found", ModelNotFound),  # skorokithakis/sysaidmin#9 saw it as a 400
        (429, "insufficient_quota", QuotaExhausted),
        (429, "credit_balance_exhausted", QuotaExhausted),
        (429, "rate_limit_exceeded", RateLimited),
        (400, "content_policy_violation", ContentBlocked),
        (400, "invalid_prompt", ContentBlocked),
        (400, "invalid_value", InvalidRequest),
        (500, "server_error", ServerError),
        (503, "server_is_overloaded", Overloaded),
    ],
)
def test_documented_error_bodies_map_to_the_specific_class(
    status: int, sample: str, expected: type[ProviderError]
) -> None:
    assert type(classify(status, samples.ERROR_BODIES[sample])) is expected


def test_429_with_insufficient_quota_is_quota_exhausted_not_rate_limited() -> None:
    error = classify(429, samples.ERROR_BODIES["insufficient_quota"], {"retry-after": "20"})
    assert isinstance(error, QuotaExhausted)
    assert not isinstance(error, TransientError)
    assert error.retry_after is None


def test_quota_message_without_a_code_is_still_quota_exhausted() -> None:
    """continuedev/continue#10546 shows the quota 429 reported by its message alone."""
    body = json.dumps({"error": {"message": "You exceeded your current quota, please check "
                                            "your plan and billing details."}}).encode()
    assert isinstance(classify(429, body), QuotaExhausted)


def test_provider_code_is_error_code_then_error_type() -> None:
    assert classify(429, samples.ERROR_BODIES["rate_limit_exceeded"]).provider_code == (
        "rate_limit_exceeded"
    )
    assert classify(500, samples.ERROR_BODIES["server_error"]).provider_code == "server_error"
    assert classify(500, BARE_BODY).provider_code is None


def test_message_is_the_providers_message_with_key_masked() -> None:
    error = classify(
        401, samples.ERROR_BODIES["invalid_api_key"], {"Authorization": "Bearer sk-secret123456"}
    )
    assert error.message.startswith("Incorrect API key provided:")
    assert "sk-abc12" not in error.message
    assert "sk-secret123456" not in error.message
    assert "Bearer" not in error.message


def test_message_of_a_long_or_html_body_is_a_short_one_line_excerpt() -> None:
    body = b"<html>\n<head><title>502 Bad Gateway</title></head>\n" + b"x" * 5000 + b"</html>"
    error = classify(502, body)
    assert isinstance(error, ServerError)
    assert "\n" not in error.message
    assert error.message.startswith("<html> <head><title>502 Bad Gateway")
    assert len(error.message) <= 300


def test_an_empty_body_still_gives_a_message() -> None:
    assert classify(503, b"").message == "HTTP 503"


def test_rate_limited_prefers_retry_after_ms() -> None:
    """openai-python reads retry-after-ms before retry-after (_base_client.py)."""
    error = classify(
        429, samples.ERROR_BODIES["rate_limit_exceeded"],
        {"retry-after-ms": "1500", "retry-after": "9"},
    )
    assert isinstance(error, RateLimited)
    assert error.retry_after == pytest.approx(1.5)


def test_rate_limited_reads_retry_after_seconds_whatever_the_header_case() -> None:
    error = classify(429, samples.ERROR_BODIES["rate_limit_exceeded"], {"Retry-After": "20"})
    assert error.retry_after == pytest.approx(20.0)


def test_rate_limited_without_headers_has_no_retry_after() -> None:
    assert classify(429, samples.ERROR_BODIES["rate_limit_exceeded"]).retry_after is None


def test_overloaded_carries_retry_after_too() -> None:
    error = classify(503, samples.ERROR_BODIES["server_is_overloaded"], {"retry-after": "3"})
    assert isinstance(error, Overloaded)
    assert error.retry_after == pytest.approx(3.0)


def test_azure_prompt_filter_400_is_content_blocked() -> None:
    """Azure's 400 code content_filter (provider-formats.md 2, openai-agents-python#806)."""
    body = json.dumps({"error": {
        "message": "The response was filtered due to the prompt triggering Azure OpenAI's "
                   "content management policy.",
        "type": None, "param": "prompt", "code": "content_filter",
        "innererror": {"code": "ResponsibleAIPolicyViolation",
                       "content_filter_result": {"jailbreak": {"detected": True,
                                                               "filtered": True}}},
    }}).encode()
    assert isinstance(classify(400, body), ContentBlocked)


def test_azure_429_with_string_code_is_rate_limited() -> None:
    """Azure's 429 body has code "429" and no type (provider-formats.md 2)."""
    body = json.dumps({"error": {"code": "429", "message": "Requests to the "
                       "ChatCompletions_Create Operation under Azure OpenAI API version "
                       "2024-08-01-preview have exceeded token rate limit of your current "
                       "OpenAI S0 pricing tier. Please retry after 86400 seconds."}}).encode()
    error = classify(429, body, {"retry-after": "86400"})
    assert isinstance(error, RateLimited)
    assert error.provider_code == "429"
    assert error.retry_after == pytest.approx(86400.0)


def test_vllm_flat_context_error_is_context_too_long() -> None:
    """vLLM's flat error body with OpenAI's context message (provider-formats.md 1.4)."""
    body = json.dumps({"object": "error", "message": "This model's maximum context length is "
                       "8192 tokens. However, you requested 9000 tokens.",
                       "type": "BadRequestError", "param": None, "code": 400}).encode()
    error = classify(400, body)
    assert isinstance(error, ContextTooLong)
    assert error.provider_code == "400"


def test_together_403_context_length_is_context_too_long_not_auth() -> None:
    """Together reports the context overflow as 403 (provider-formats.md 1.4 and 8.6)."""
    body = json.dumps({"error": {"message": "Input validation error: `inputs` tokens + "
                       "`max_new_tokens` must be <= 8193. Input token count + max_tokens must "
                       "be less than the context length", "type": "invalid_request_error",
                       "param": None, "code": None}}).encode()
    assert isinstance(classify(403, body), ContextTooLong)


def test_model_does_not_exist_message_without_code_is_model_not_found() -> None:
    """Groq as quoted in continuedev/continue#10832."""
    body = json.dumps({"error": {"message": "The model `llama3.1-405b` does not exist or you "
                                            "do not have access to it."}}).encode()
    assert isinstance(classify(404, body), ModelNotFound)


def test_a_5xx_is_a_provider_fault_whatever_its_message_says() -> None:
    body = json.dumps({"error": {"message": "maximum context length exceeded while routing"}})
    assert isinstance(classify(500, body.encode()), ServerError)


@pytest.mark.parametrize(
    ("status", "expected"),
    [(418, InvalidRequest), (451, InvalidRequest), (499, InvalidRequest),
     (501, ServerError), (520, ServerError), (529, ServerError),
     (200, ServerError), (302, ServerError)],
)
def test_unlisted_statuses_fall_back_to_4xx_invalid_and_otherwise_server_error(
    status: int, expected: type[ProviderError]
) -> None:
    assert type(classify(status, BARE_BODY)) is expected
