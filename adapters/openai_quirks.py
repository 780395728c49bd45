"""What OpenAI's chat-completions format means, as tables, and how a compatible vendor departs
from it (``CompatQuirks``): finish reasons, error statuses and codes, message rules.

``adapters/openai_chat.py`` builds calls and reads errors with these; ``adapters/openai_answer.py``
reads answers. Sources: openai/openai-openapi and openai/openai-python, as summarised in
shared/reference/provider-formats.md section 1.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from adapters.errors import (
    AuthError,
    ContentBlocked,
    ContextTooLong,
    InvalidRequest,
    ModelNotFound,
    Overloaded,
    ProviderTimeout,
    QuotaExhausted,
    RateLimited,
    ServerError,
)
from adapters.finish_reasons import FinishReasonTable
from adapters.http_errors import (
    UNSUPPORTED_PARAMETER_CODES,
    UNSUPPORTED_PARAMETER_RULES,
    ErrorCodeTable,
    ErrorRules,
    MessageRule,
    StatusTable,
)

__all__ = [
    "ERROR_CODES",
    "FINISH_REASON_TABLE",
    "MESSAGE_RULES",
    "OPENAI_QUIRKS",
    "STATUS_CLASSES",
    "CompatQuirks",
]

# https://platform.openai.com/docs/api-reference/chat/object (choices[].finish_reason).
# A value missing here becomes "stop" ("tool_calls" when the message carries tool calls): the
# answer was generated and paid for, and a retry would most likely end the same way, so keeping
# it beats failing the job. Values that do mean failure are listed per vendor in
# CompatQuirks.error_finish_reasons and raise ServerError instead.
FINISH_REASON_TABLE: FinishReasonTable = MappingProxyType(
    {
        "stop": "stop",
        "length": "length",
        "tool_calls": "tool_calls",
        "content_filter": "content_filter",
        "function_call": "function_call",
    }
)

# The HTTP status when neither the error code nor the message says more.
# Statuses from openai-python _client.py's status -> exception map and OpenAI's error-codes guide
# (https://platform.openai.com/docs/guides/error-codes).
STATUS_CLASSES: StatusTable = MappingProxyType(
    {
        400: InvalidRequest,
        401: AuthError,
        402: QuotaExhausted,  # compatible vendors' billing status (DeepSeek, Together)
        403: AuthError,  # PermissionDenied: key, project or region not allowed
        # Every 404 on POST /chat/completions is a catalog problem (a wrong model id or
        # base_url), never the caller's request: reroute rather than fail the job.
        404: ModelNotFound,
        408: ProviderTimeout,
        # openai-python retries 409 ("lock timeouts", _base_client._should_retry): transient.
        409: ServerError,
        413: InvalidRequest,
        422: InvalidRequest,
        429: RateLimited,
        500: ServerError,
        502: ServerError,
        503: Overloaded,
        504: ServerError,
    }
)

# error.code (or error.type when the code is null), which beats the status: OpenAI sends
# quota exhaustion as 429 and a context overflow as a plain 400.
ERROR_CODES: ErrorCodeTable = MappingProxyType(
    {
        "context_length_exceeded": ContextTooLong,
        "content_policy_violation": ContentBlocked,
        "content_filter": ContentBlocked,  # Azure's prompt filter (openai-agents-python#806)
        "invalid_prompt": ContentBlocked,  # reasoning models' usage-policy flag
        "model_not_found": ModelNotFound,
        "insufficient_quota": QuotaExhausted,  # a billing limit dressed as 429: never retry
        "credit_balance_exhausted": QuotaExhausted,
        "invalid_api_key": AuthError,
        "server_is_overloaded": Overloaded,
        **UNSUPPORTED_PARAMETER_CODES,
    }
)

# For compatible servers that send a message but no code (vLLM, Groq, Together).
MESSAGE_RULES: tuple[MessageRule, ...] = (
    MessageRule(r"\bmodel\b.*\bdoes not exist\b", ModelNotFound),
    MessageRule(r"maximum context length|context length|context window", ContextTooLong),
    MessageRule(r"exceeded your current quota", QuotaExhausted),
    MessageRule(r"rejected as a result of our safety system", ContentBlocked),
    *UNSUPPORTED_PARAMETER_RULES,
)

_RESPONSE_FORMATS = frozenset({"text", "json_object", "json_schema"})


def _empty_table() -> Mapping[Any, Any]:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True)
class CompatQuirks:
    """How one OpenAI-compatible vendor departs from OpenAI, as data."""

    # response_format types the vendor accepts; others raise InvalidRequest before any call
    response_format_types: frozenset[str] = _RESPONSE_FORMATS
    # the field the output limit is sent in: OpenAI deprecated max_tokens (o-series reject it)
    token_limit_field: Literal["max_completion_tokens", "max_tokens"] = "max_completion_tokens"
    # request fields never sent. OpenAI answers 400 to `metadata` unless `store` is true, and
    # storing prompts at the provider is not something a caller's tags should switch on.
    dropped_fields: frozenset[str] = frozenset({"metadata"})
    # request fields sent under another name (Mistral: seed -> random_seed)
    renamed_fields: Mapping[str, str] = field(default_factory=_empty_table)
    # native finish reasons beyond OpenAI's (Mistral: model_length -> length)
    extra_finish_reasons: FinishReasonTable = field(default_factory=_empty_table)
    # finish reasons that mean the generation failed (DeepSeek: insufficient_system_resource)
    error_finish_reasons: frozenset[str] = frozenset()
    extra_error_codes: ErrorCodeTable = field(default_factory=_empty_table)
    extra_statuses: StatusTable = field(default_factory=_empty_table)
    # where usage details sit (DeepSeek also reports prompt_cache_hit_tokens at the top level)
    cached_tokens_path: tuple[str, ...] = ("prompt_tokens_details", "cached_tokens")
    reasoning_tokens_path: tuple[str, ...] = ("completion_tokens_details", "reasoning_tokens")

    @property
    def finish_reasons(self) -> FinishReasonTable:
        return {**FINISH_REASON_TABLE, **self.extra_finish_reasons}

    @property
    def error_rules(self) -> ErrorRules:
        return ErrorRules(
            statuses={**STATUS_CLASSES, **self.extra_statuses},
            codes={**ERROR_CODES, **self.extra_error_codes},
            messages=MESSAGE_RULES,
        )


OPENAI_QUIRKS = CompatQuirks()
