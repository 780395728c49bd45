"""Google's error answers (``{"error": {code, message, status, details}}``) as cascade errors.

Classification by ErrorInfo reason and google.rpc status name, then message, then HTTP status
(https://ai.google.dev/gemini-api/docs/troubleshooting); a RetryInfo detail's delay becomes the
error's ``retry_after``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

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
    TransientError,
)
from adapters.http_errors import (
    UNSUPPORTED_PARAMETER_RULES,
    ErrorCodeTable,
    ErrorRules,
    MessageRule,
    StatusTable,
    error_from_response,
)
from adapters.http_response import read_json_object
from adapters.json_values import count

__all__ = [
    "ERROR_REASONS",
    "MESSAGE_RULES",
    "STATUS_CLASSES",
    "classify_error",
    "parse_duration",
    "retry_delay",
]

# HTTP status -> class, from https://ai.google.dev/gemini-api/docs/troubleshooting.
STATUS_CLASSES: StatusTable = MappingProxyType(
    {
        400: InvalidRequest,  # INVALID_ARGUMENT
        401: AuthError,  # UNAUTHENTICATED
        403: AuthError,  # PERMISSION_DENIED: key lacks access (or no key at all)
        404: ModelNotFound,  # NOT_FOUND: almost always a model id the catalog got wrong
        429: RateLimited,  # RESOURCE_EXHAUSTED
        500: ServerError,  # INTERNAL
        502: ServerError,
        503: Overloaded,  # UNAVAILABLE: "The model is overloaded. Please try again later."
        # DEADLINE_EXCEEDED is Google's own processing deadline, not our client timeout;
        # retrying may pass, and it counts toward the circuit like any server failure.
        504: ServerError,
    }
)

# ErrorInfo reasons, quota markers and google.rpc status names, which beat the HTTP status.
# INVALID_ARGUMENT and NOT_FOUND are left to the message rules and the status table: a 400
# INVALID_ARGUMENT may be a bad key or an overlong prompt.
ERROR_REASONS: ErrorCodeTable = MappingProxyType(
    {
        "API_KEY_INVALID": AuthError,  # 400 INVALID_ARGUMENT for a bad key
        "API_KEY_SERVICE_BLOCKED": AuthError,
        "SERVICE_DISABLED": AuthError,  # the API is not enabled on the key's project
        "CONSUMER_SUSPENDED": AuthError,
        "PER_DAY_QUOTA": QuotaExhausted,  # synthetic: a QuotaFailure quotaId with "PerDay"
        "UNAUTHENTICATED": AuthError,
        "PERMISSION_DENIED": AuthError,
        # "free tier is not available in your country. Please enable billing" / "User
        # location is not supported": no wait clears it, only account setup; stop using the key
        "FAILED_PRECONDITION": AuthError,
        "RESOURCE_EXHAUSTED": RateLimited,
        "INTERNAL": ServerError,
        "UNAVAILABLE": Overloaded,
        "DEADLINE_EXCEEDED": ServerError,
    }
)

# For 4xx answers whose reason and status say too little.
MESSAGE_RULES: tuple[MessageRule, ...] = (
    # "The input token count (3475108) exceeds the maximum number of tokens allowed (1048576)."
    MessageRule(r"input token count.*exceeds the maximum", ContextTooLong),
    MessageRule(r"API key not valid|API key expired", AuthError),
    MessageRule(r"missing a thought_signature", TargetError),
    MessageRule(r"models/\S+ is not found", ModelNotFound),
    # troubleshooting guide: a 404 may be a referenced image/audio/video file, not the model
    MessageRule(r"\bfile\b.*(not found|does not exist)", InvalidRequest),
    *UNSUPPORTED_PARAMETER_RULES,
)

_ERROR_RULES = ErrorRules(statuses=STATUS_CLASSES, codes=ERROR_REASONS, messages=MESSAGE_RULES)

_RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"
_QUOTA_FAILURE = "type.googleapis.com/google.rpc.QuotaFailure"
_ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"


def classify_error(status_code: int, headers: Mapping[str, str], body: bytes) -> ProviderError:
    """The ProviderError for Google's ``{"error": {code, message, status, details}}``."""
    error = _error_object(read_json_object(body))
    details = [d for d in error.get("details") or () if isinstance(d, dict)]
    codes = [*_detail_codes(details)]
    status_name = error.get("status")
    if isinstance(status_name, str) and status_name:
        codes.append(status_name)
    made = error_from_response(
        _ERROR_RULES, status_code, headers, body, codes=codes, message=error.get("message")
    )
    delay = retry_delay(details)
    if isinstance(made, TransientError) and delay is not None:
        made.retry_after = delay
    return made



def _error_object(payload: dict[str, Any] | None) -> dict[str, Any]:
    if payload is None:
        return {}
    inner = payload.get("error")
    if isinstance(inner, dict):
        return inner
    # python-genai APIError also reads code/status/message from the top level
    return payload


def _detail_codes(details: Iterable[Mapping[str, Any]]) -> Iterable[str]:
    """ErrorInfo reasons, and PER_DAY_QUOTA when a QuotaFailure names a per-day quota."""
    for detail in details:
        kind = detail.get("@type")
        if kind == _ERROR_INFO and isinstance(detail.get("reason"), str):
            yield detail["reason"]
        elif kind == _QUOTA_FAILURE and _per_day(detail.get("violations")):
            yield "PER_DAY_QUOTA"


def _per_day(violations: Any) -> bool:
    # a per-day quota does not clear by waiting the RetryInfo delay
    # (gke-labs/gemini-for-kubernetes-development#1215)
    return any(
        isinstance(v, dict) and "PerDay" in str(v.get("quotaId", ""))
        for v in violations or ()
    )


def retry_delay(details: Iterable[Mapping[str, Any]]) -> float | None:
    """Seconds from a google.rpc.RetryInfo detail's ``retryDelay`` ("37s"), or None."""
    for detail in details:
        if detail.get("@type") == _RETRY_INFO:
            delay = detail.get("retryDelay")
            if isinstance(delay, str):
                return parse_duration(delay)
            if isinstance(delay, dict):  # the proto Duration object form
                return count(delay.get("seconds")) + count(delay.get("nanos")) / 1e9
    return None


def parse_duration(text: str) -> float | None:
    """A protobuf JSON Duration ("57.238747106s") in seconds, or None when it is not one."""
    found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)s\s*", text)
    return float(found.group(1)) if found else None
