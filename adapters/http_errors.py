"""Turning an HTTP error response into a ``ProviderError``: the rules every wire format shares.

An adapter classifies an error in three steps, most specific first, each a table of data:
the provider's own error code (``ErrorCodeTable``), then patterns in the message for providers
that send no code (``MessageRules``, 2xx and 4xx only: a 5xx is the provider's fault whatever
its text says), then the HTTP status (``StatusTable``). A status no table lists falls back to
``class_for_unlisted_status``. ``make_error`` builds the instance and attaches Retry-After to
every transient error; ``error_from_response`` runs the three steps on a response once an
adapter has found the codes and the message in its own error body.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from adapters.errors import (
    InvalidRequest,
    ProviderError,
    ServerError,
    TransientError,
    UnsupportedParameter,
)
from adapters.http_response import body_text, safe_excerpt
from adapters.retry_after import parse_retry_after

__all__ = [
    "ErrorCodeTable",
    "ErrorRules",
    "MessageRule",
    "StatusTable",
    "UNSUPPORTED_PARAMETER_CODES",
    "UNSUPPORTED_PARAMETER_RULES",
    "class_for_unlisted_status",
    "classify",
    "error_from_response",
    "error_object",
    "make_error",
]

StatusTable = Mapping[int, type[ProviderError]]
ErrorCodeTable = Mapping[str, type[ProviderError]]


@dataclass(frozen=True, slots=True)
class MessageRule:
    """An error class for messages that match ``pattern`` (searched, case-insensitive)."""

    pattern: str
    error: type[ProviderError]

    def matches(self, message: str) -> bool:
        return re.search(self.pattern, message, flags=re.IGNORECASE) is not None


# How each provider words a 400 for a parameter the model does not take: OpenAI ("Unsupported
# parameter: 'max_tokens' ...", "Unknown parameter: 'x'."), Azure on an older api-version
# ("Unrecognized request argument supplied: max_completion_tokens"), Anthropic and vLLM (pydantic's
# "Extra inputs are not permitted"), Gemini ("Invalid JSON payload received. Unknown name").
UNSUPPORTED_PARAMETER_RULES: tuple[MessageRule, ...] = (
    MessageRule(r"unrecognized request argument", UnsupportedParameter),
    MessageRule(r"\bunsupported parameter\b|\bunknown parameter\b", UnsupportedParameter),
    MessageRule(r"extra inputs are not permitted", UnsupportedParameter),
    MessageRule(r"invalid json payload received\. unknown name", UnsupportedParameter),
)
# OpenAI's error.code values for the same (https://platform.openai.com/docs/guides/error-codes)
UNSUPPORTED_PARAMETER_CODES: Mapping[str, type[ProviderError]] = MappingProxyType(
    {
        "unsupported_parameter": UnsupportedParameter,
        "unknown_parameter": UnsupportedParameter,
        "unsupported_value": UnsupportedParameter,
    }
)


@dataclass(frozen=True, slots=True)
class ErrorRules:
    """One wire format's classification tables."""

    statuses: StatusTable
    codes: ErrorCodeTable
    messages: tuple[MessageRule, ...] = ()


def class_for_unlisted_status(status_code: int) -> type[ProviderError]:
    """The class for a status no table lists.

    4xx says the client erred, so the request is treated as wrong (InvalidRequest). Anything
    else that reaches error classification (5xx, and 1xx/2xx/3xx where a chat.completion was
    expected) means the provider did not answer usefully: ServerError, worth a retry.
    """
    if 400 <= status_code < 500:
        return InvalidRequest
    return ServerError


def classify(
    rules: ErrorRules, status_code: int, codes: Iterable[str], message: str
) -> type[ProviderError]:
    """The most specific class for an error: by code, then by message, then by status."""
    for code in codes:
        if code in rules.codes:
            return rules.codes[code]
    if status_code < 500:
        for rule in rules.messages:
            if rule.matches(message):
                return rule.error
    found = rules.statuses.get(status_code)
    return found if found is not None else class_for_unlisted_status(status_code)


def make_error(
    error: type[ProviderError],
    message: str,
    *,
    status_code: int | None,
    provider_code: str | None,
    headers: Mapping[str, str],
) -> ProviderError:
    """An instance of ``error``; transient ones carry the wait the headers asked for."""
    retry_after = parse_retry_after(headers) if issubclass(error, TransientError) else None
    return error(
        message,
        status_code=status_code,
        retry_after=retry_after,
        provider_code=provider_code,
    )


def error_object(payload: dict[str, Any] | None) -> dict[str, Any]:
    """The ``error`` object of ``{"error": {...}}`` (OpenAI's and Anthropic's bodies).

    A string ``error`` is taken as the message; a body without one is its own error object
    (vLLM's flat shape), and no body at all is an empty one.
    """
    if payload is None:
        return {}
    inner = payload.get("error")
    if isinstance(inner, dict):
        return inner
    if isinstance(inner, str):
        return {"message": inner}
    return payload


def error_from_response(
    rules: ErrorRules,
    status_code: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    codes: Sequence[str],
    message: object,
) -> ProviderError:
    """The error for a response whose body gave ``codes`` (most specific first) and ``message``.

    A message that is not a non-empty string is replaced by the whole body, so the rules and
    the error's text still see what the provider said; the first code is the provider code.
    """
    text = message if isinstance(message, str) and message else body_text(body)
    return make_error(
        classify(rules, status_code, codes, text),
        safe_excerpt(text) or f"HTTP {status_code}",
        status_code=status_code,
        provider_code=codes[0] if codes else None,
        headers=headers,
    )
