"""GeminiAdapter.classify_error: Google's ``{"error": {code, message, status, details}}``.

Statuses from https://ai.google.dev/gemini-api/docs/troubleshooting; bodies as quoted in
provider-formats.md section 4.4 (continuedev/continue#10290 for API_KEY_INVALID,
google-gemini/gemini-cli#4231 for the token-count message, the RetryInfo and QuotaFailure 429).
"""

from __future__ import annotations

from typing import Any

import pytest

from adapters.errors import (
    AuthError,
    ContextTooLong,
    InvalidRequest,
    ModelNotFound,
    Overloaded,
    ProviderError,
    QuotaExhausted,
    RateLimited,
    ServerError,
    TargetError,
)
from adapters.gemini import GeminiAdapter
from adapters.gemini.errors import parse_duration
from tests.adapters.gemini_samples import error_body

ADAPTER = GeminiAdapter()

API_KEY_INVALID = [
    {
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": "API_KEY_INVALID",
        "domain": "googleapis.com",
        "metadata": {"service": "generativelanguage.googleapis.com"},
    }
]


def quota_details(quota_id: str, delay: str = "37s") -> list[dict[str, Any]]:
    return [
        {
            "@type": "type.googleapis.com/google.rpc.QuotaFailure",
            "violations": [
                {
                    "quotaMetric": "generativelanguage.googleapis.com/generate_content_requests",
                    "quotaId": quota_id,
                }
            ],
        },
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay},
    ]


def classify(status: int, body: bytes, headers: dict[str, str] | None = None) -> ProviderError:
    return ADAPTER.classify_error(status, headers or {}, body)


def test_invalid_api_key_reported_as_400_is_an_auth_error() -> None:
    error = classify(
        400,
        error_body(
            400,
            "INVALID_ARGUMENT",
            "API key not valid. Please pass a valid API key.",
            API_KEY_INVALID,
        ),
    )
    assert type(error) is AuthError
    assert error.provider_code == "API_KEY_INVALID"


def test_input_token_count_over_the_limit_is_context_too_long() -> None:
    message = (
        "The input token count (3475108) exceeds the maximum number of tokens allowed (1048576)."
    )
    error = classify(400, error_body(400, "INVALID_ARGUMENT", message))
    assert type(error) is ContextTooLong


def test_other_invalid_argument_is_an_invalid_request() -> None:
    message = "Request contains an invalid argument."
    error = classify(400, error_body(400, "INVALID_ARGUMENT", message))
    assert type(error) is InvalidRequest


def test_failed_precondition_region_or_billing_is_an_auth_error() -> None:
    """Troubleshooting guide: "Gemini API free tier is not available in your country. Please
    enable billing" — no wait helps; the key's account must change."""
    message = "User location is not supported for the API use."
    assert type(classify(400, error_body(400, "FAILED_PRECONDITION", message))) is AuthError


def test_permission_denied_and_missing_key_are_auth_errors() -> None:
    message = "Method doesn't allow unregistered callers (callers without established identity)."
    assert type(classify(403, error_body(403, "PERMISSION_DENIED", message))) is AuthError


def test_unknown_model_is_model_not_found() -> None:
    message = "models/gemini-9 is not found for API version v1beta, or is not supported."
    assert type(classify(404, error_body(404, "NOT_FOUND", message))) is ModelNotFound


def test_rate_limit_carries_the_retry_delay_from_the_body() -> None:
    body = error_body(
        429,
        "RESOURCE_EXHAUSTED",
        "You exceeded your current quota, please check your plan and billing details.",
        quota_details("GenerateRequestsPerMinutePerProjectPerModel-FreeTier", "57.238747106s"),
    )
    error = classify(429, body)
    assert type(error) is RateLimited
    assert error.retry_after == pytest.approx(57.238747106)


def test_per_day_quota_is_quota_exhausted_not_rate_limited() -> None:
    """A per-day quota does not clear in minutes
    (gke-labs/gemini-for-kubernetes-development#1215)."""
    body = error_body(
        429,
        "RESOURCE_EXHAUSTED",
        "You exceeded your current quota, please check your plan and billing details.",
        quota_details("GenerateRequestsPerDayPerProjectPerModel-FreeTier", "22s"),
    )
    error = classify(429, body)
    assert type(error) is QuotaExhausted
    assert error.retry_after is None


def test_rate_limit_without_retry_info_falls_back_to_headers() -> None:
    error = classify(429, error_body(429, "RESOURCE_EXHAUSTED", "slow down"), {"Retry-After": "3"})
    assert type(error) is RateLimited
    assert error.retry_after == 3.0


@pytest.mark.parametrize(
    ("status", "name", "expected"),
    [
        (500, "INTERNAL", ServerError),
        (503, "UNAVAILABLE", Overloaded),
        (504, "DEADLINE_EXCEEDED", ServerError),
    ],
)
def test_server_side_statuses_are_transient(
    status: int, name: str, expected: type[ProviderError]
) -> None:
    error = classify(status, error_body(status, name, "The model is overloaded."))
    assert type(error) is expected


def test_missing_thought_signature_400_is_a_target_error_so_the_job_reroutes() -> None:
    """langgenius/dify-official-plugins#2088: Gemini 3 rejects unsigned function-call history."""
    message = "Function call is missing a thought_signature in functionCall parts."
    error = classify(400, error_body(400, "INVALID_ARGUMENT", message))
    assert type(error) is TargetError


def test_unreadable_error_body_falls_back_to_the_status() -> None:
    assert type(classify(503, b"<html>Service Unavailable</html>")) is Overloaded
    assert type(classify(418, b"")) is InvalidRequest


def test_a_2xx_error_body_is_classified_like_an_error() -> None:
    from tests.adapters.gemini_samples import TARGET

    body = error_body(503, "UNAVAILABLE", "The model is overloaded. Please try again later.")
    with pytest.raises(Overloaded):
        ADAPTER.parse_response(200, {}, body, TARGET)


@pytest.mark.parametrize(("text", "seconds"), [("37s", 37.0), ("0.5s", 0.5), ("soon", None)])
def test_protobuf_durations_parse_to_seconds(text: str, seconds: float | None) -> None:
    assert parse_duration(text) == seconds
