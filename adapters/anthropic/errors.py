"""How Anthropic's error answers map onto cascade's error classes, as tables.

Sources: https://docs.claude.com/en/api/errors, anthropic-sdk-python ``_client.py`` (status ->
exception), ``types/shared/error_type.py`` and the ``error.details.error_code`` classes in
``types/shared/*_error_details.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

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
)
from adapters.http_errors import (
    UNSUPPORTED_PARAMETER_RULES,
    ErrorCodeTable,
    ErrorRules,
    MessageRule,
    StatusTable,
    error_from_response,
    error_object,
)
from adapters.http_response import read_json_object
from adapters.json_values import dig

__all__ = ["ERROR_CODES", "ERROR_RULES", "MESSAGE_RULES", "STATUS_CLASSES", "classify_error"]

# https://docs.claude.com/en/api/errors (HTTP status -> error type), and the SDK's
# status -> exception map (_client.py): 402 PaymentRequired, 413 ContentTooLarge, 529 Overloaded.
STATUS_CLASSES: StatusTable = MappingProxyType(
    {
        400: InvalidRequest,
        401: AuthError,
        402: QuotaExhausted,  # billing_error
        403: AuthError,  # permission_error
        404: ModelNotFound,  # POST /v1/messages has no other resource to miss
        408: ProviderTimeout,
        409: ServerError,  # the SDK retries conflicts
        # request_too_large (32 MB, sent by Cloudflare before any model sees it): the request
        # itself is too big; a larger context window would not help, so it is not ContextTooLong
        413: InvalidRequest,
        429: RateLimited,
        500: ServerError,  # api_error
        502: ServerError,
        503: Overloaded,
        504: ProviderTimeout,  # timeout_error
        529: Overloaded,  # overloaded_error: Anthropic-wide capacity, not the caller's quota
    }
)

# error.details.error_code (checked first) and error.type. invalid_request_error and
# rate_limit_error are left to the message rules and the status, because Anthropic reports
# spend limits and context overflows under those types.
ERROR_CODES: ErrorCodeTable = MappingProxyType(
    {
        # error.details.error_code (anthropic-sdk-python types/shared/*_error_details.py)
        "enforced_spend_limit_reached": QuotaExhausted,  # 429, monthly tier threshold
        "contract_spend_limit_reached": QuotaExhausted,  # 429
        "linked_organization_spend_limit_reached": QuotaExhausted,  # 402
        "linked_organization_billing_unavailable": QuotaExhausted,  # 402
        "ramp_limit_exceeded": RateLimited,  # 429 with retry-after
        "organization_on_hold": AuthError,  # 400: the organization is disabled
        # error.type (types/shared/error_type.py)
        "authentication_error": AuthError,
        "permission_error": AuthError,
        "billing_error": QuotaExhausted,
        "not_found_error": ModelNotFound,
        "request_too_large": InvalidRequest,
        "timeout_error": ProviderTimeout,
        "api_error": ServerError,
        "overloaded_error": Overloaded,
    }
)

# Messages of invalid_request_error / rate_limit_error bodies that mean more than their type.
MESSAGE_RULES: tuple[MessageRule, ...] = (
    # "prompt is too long: 208656 tokens > 200000 maximum"
    MessageRule(r"prompt is too long", ContextTooLong),
    # "input length and `max_tokens` exceed context limit: 198000 + 4096 > 200000, ..."
    MessageRule(r"exceed context limit", ContextTooLong),
    # "You have reached your specified API usage limits. You will regain access on ..."
    MessageRule(r"reached your specified (workspace )?API usage limits", QuotaExhausted),
    # "Your credit balance is too low to access the Anthropic API. ..."
    MessageRule(r"credit balance is too low", QuotaExhausted),
    *UNSUPPORTED_PARAMETER_RULES,
)

ERROR_RULES = ErrorRules(statuses=STATUS_CLASSES, codes=ERROR_CODES, messages=MESSAGE_RULES)


def classify_error(status_code: int, headers: Mapping[str, str], body: bytes) -> ProviderError:
    """The most specific ProviderError for an error response (returned, not raised)."""
    # ``{"type": "error", "error": {...}}``; the body itself for other shapes
    error = error_object(read_json_object(body))
    codes = [
        code
        for code in (dig(error, ("details", "error_code")), error.get("type"))
        if isinstance(code, str) and code
    ]
    return error_from_response(
        ERROR_RULES, status_code, headers, body, codes=codes, message=error.get("message")
    )
