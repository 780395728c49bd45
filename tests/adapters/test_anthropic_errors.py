"""AnthropicMessagesAdapter.classify_error: every documented status and error body.

Statuses and types: https://docs.claude.com/en/api/errors and anthropic-sdk-python
``types/shared/error_type.py``; ``error.details.error_code`` values: the SDK's
``types/shared/*_error_details.py``; message texts: error bodies reported in public issue
threads and summarised in shared/reference/provider-formats.md section 3.4.
"""

from __future__ import annotations

import json
from typing import get_args

import pytest

from adapters.anthropic import AnthropicMessagesAdapter
from adapters.anthropic.errors import ERROR_CODES
from adapters.errors import (
    AuthError,
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

GROUPING_CLASSES = {ProviderError, TransientError, TargetError}
DOCUMENTED_STATUSES = [400, 401, 402, 403, 404, 408, 409, 413, 429, 500, 502, 503, 504, 529]


def body(error_type: str, message: str, details_code: str | None = None) -> bytes:
    error: dict[str, object] = {"type": error_type, "message": message}
    if details_code is not None:
        error["details"] = {"error_code": details_code}
    return json.dumps(
        {"type": "error", "error": error, "request_id": "req_011CSHoEeqs5C35K2UUqR7Fy"}
    ).encode()


def classify(status: int, raw: bytes, headers: dict[str, str] | None = None) -> ProviderError:
    return AnthropicMessagesAdapter().classify_error(status, headers or {}, raw)


@pytest.mark.parametrize("status", DOCUMENTED_STATUSES)
@pytest.mark.parametrize("raw", [body("api_error", "x"), b"", b"<html>413</html>"])
def test_no_documented_status_is_left_to_a_grouping_class(status: int, raw: bytes) -> None:
    error = classify(status, raw)
    assert type(error) not in GROUPING_CLASSES
    assert error.status_code == status


@pytest.mark.parametrize(
    ("status", "error_type", "message", "expected"),
    [
        (400, "invalid_request_error", "messages: roles must alternate", InvalidRequest),
        (401, "authentication_error", "invalid x-api-key", AuthError),
        (402, "billing_error", "Your account has a billing issue.", QuotaExhausted),
        (403, "permission_error", "Your API key does not have permission", AuthError),
        (404, "not_found_error", "model: claude-nonexistent", ModelNotFound),
        (
            413,
            "request_too_large",
            "Request exceeds the maximum allowed number of bytes.",
            InvalidRequest,
        ),
        (429, "rate_limit_error", "This request would exceed the rate limit", RateLimited),
        (500, "api_error", "Internal server error", ServerError),
        (504, "timeout_error", "Request timed out", ProviderTimeout),
        (529, "overloaded_error", "Overloaded", Overloaded),
    ],
)
def test_each_documented_error_type_maps_to_its_class(
    status: int, error_type: str, message: str, expected: type[ProviderError]
) -> None:
    """The status/type table of https://docs.claude.com/en/api/errors."""
    error = classify(status, body(error_type, message))
    assert type(error) is expected
    assert error.provider_code == error_type


def test_every_sdk_error_type_is_mapped_or_left_to_status_on_purpose() -> None:
    """Fails when the SDK documents an error type this adapter has not decided about."""
    error_type = pytest.importorskip("anthropic.types.shared.error_type")
    by_status = {"invalid_request_error", "rate_limit_error"}  # message rules, then status
    not_on_messages = {  # Managed-agents memory stores / conflicts: never sent by /v1/messages
        "memory_precondition_failed_error",
        "memory_path_conflict_error",
        "conflict_error",
    }
    documented = set(get_args(error_type.ErrorType))
    assert documented - by_status - not_on_messages <= set(ERROR_CODES)


def test_prompt_too_long_is_context_too_long() -> None:
    error = classify(
        400, body("invalid_request_error", "prompt is too long: 208656 tokens > 200000 maximum")
    )
    assert isinstance(error, ContextTooLong)


def test_input_plus_max_tokens_over_the_window_is_context_too_long() -> None:
    message = (
        "input length and `max_tokens` exceed context limit: 198000 + 4096 > 200000, "
        "decrease input length or `max_tokens` and try again"
    )
    assert isinstance(classify(400, body("invalid_request_error", message)), ContextTooLong)


@pytest.mark.parametrize(
    "message",
    [
        "You have reached your specified API usage limits. "
        "You will regain access on 2026-08-01 at 00:00 UTC.",
        "Your credit balance is too low to access the Anthropic API. "
        "Please go to Plans & Billing to upgrade or purchase credits.",
    ],
)
def test_spend_limit_and_credit_balance_400s_are_quota_exhausted(message: str) -> None:
    """Both arrive as 400 invalid_request_error; no retry or fix of the request helps."""
    assert isinstance(classify(400, body("invalid_request_error", message)), QuotaExhausted)


@pytest.mark.parametrize(
    "details_code", ["enforced_spend_limit_reached", "contract_spend_limit_reached"]
)
def test_429_with_spend_limit_details_is_quota_exhausted_not_rate_limited(
    details_code: str,
) -> None:
    """SDK EnforcedSpendLimitReachedError and ContractSpendLimitReachedError are RateLimitErrors
    (anthropic-sdk-python types/shared/*_spend_limit_reached_error.py)."""
    error = classify(429, body("rate_limit_error", "You have reached your limit.", details_code))
    assert isinstance(error, QuotaExhausted)
    assert error.provider_code == details_code


def test_402_linked_organization_spend_limit_is_quota_exhausted() -> None:
    raw = body("billing_error", "limit", "linked_organization_spend_limit_reached")
    assert isinstance(classify(402, raw), QuotaExhausted)


def test_ramp_limit_429_is_rate_limited_with_retry_after() -> None:
    """RampLimitExceededErrorDetails: "Retry after the time in the retry-after header"."""
    error = classify(
        429, body("rate_limit_error", "ramp", "ramp_limit_exceeded"), {"retry-after": "7"}
    )
    assert isinstance(error, RateLimited)
    assert error.retry_after == 7.0


def test_organization_on_hold_400_is_an_auth_error() -> None:
    raw = body(
        "invalid_request_error", "This organization has been disabled.", "organization_on_hold"
    )
    assert isinstance(classify(400, raw), AuthError)


def test_429_carries_the_retry_after_header() -> None:
    error = classify(
        429,
        body(
            "rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit"
        ),
        {"retry-after": "12"},
    )
    assert isinstance(error, RateLimited)
    assert error.retry_after == 12.0


def test_529_overloaded_is_transient_and_keeps_the_message() -> None:
    """The 529 body of the errors docs: {"type": "overloaded_error", "message": "Overloaded"}."""
    error = classify(529, body("overloaded_error", "Overloaded"))
    assert isinstance(error, Overloaded)
    assert isinstance(error, TransientError)
    assert error.message == "Overloaded"


def test_a_key_echoed_in_a_message_is_masked() -> None:
    error = classify(401, body("authentication_error", "invalid key sk-ant-api03-abcdefghijkl"))
    assert "sk-ant-api03" not in error.message


def test_a_non_json_413_from_the_edge_is_an_invalid_request() -> None:
    """request_too_large is returned by Cloudflare, sometimes as HTML."""
    error = classify(413, b"<html><body>413 Request Entity Too Large</body></html>")
    assert isinstance(error, InvalidRequest)
