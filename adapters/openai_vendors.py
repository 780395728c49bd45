"""The OpenAI-compatible vendors: OpenAI's chat adapter with each vendor's quirks as data.

Each vendor is a few lines: its ``name`` (the catalog's ``wire_format``), a link to its docs,
``CompatQuirks`` (what the response and error tables need) and ``VendorLimits`` (what the
vendor refuses or wants rewritten in a request). What a vendor cannot do raises InvalidRequest
naming the parameter and the vendor before any call is made.

DeepSeek's ``reasoning_content`` is not kept: cascade's ResponseMessage has no field for it (the
OpenAI shape has none), so it is dropped on parsing; its token count still arrives as
``reasoning_tokens``. Replaying it in thinking-mode tool conversations would need a schema field.

Sources per vendor are in shared/reference/provider-formats.md section 1.4 and next to each class.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any, ClassVar

from adapters.base import AdapterTarget, HttpCall
from adapters.errors import (
    AuthError,
    ContentBlocked,
    InvalidRequest,
    Overloaded,
    ProviderTimeout,
    QuotaExhausted,
    RateLimited,
    ServerError,
)
from adapters.openai_chat import OpenAIChatAdapter
from adapters.openai_quirks import CompatQuirks
from adapters.tool_ids import MISTRAL_TOOL_IDS, ToolIdFormat, conform_tool_call_ids
from broker.jobs import CompletionRequest

__all__ = [
    "COMPAT_VENDORS",
    "CompatVendorAdapter",
    "DeepSeekAdapter",
    "GroqAdapter",
    "MistralAdapter",
    "OllamaAdapter",
    "OpenRouterAdapter",
    "QwenAdapter",
    "TogetherAdapter",
    "VendorLimits",
    "VllmAdapter",
    "check_vendor_limits",
]


@dataclass(frozen=True, slots=True)
class VendorLimits:
    """What a vendor refuses in a request, or needs rewritten, beyond CompatQuirks."""

    # the largest n the vendor takes (None: no limit beyond OpenAI's)
    max_n: int | None = None
    # Groq answers 400 to messages[].name
    refuses_message_names: bool = False
    # the tool-call ids the vendor accepts; foreign ones are rewritten (None: any id)
    tool_ids: ToolIdFormat | None = None


def check_vendor_limits(
    request: CompletionRequest, vendor: str, quirks: CompatQuirks, limits: VendorLimits
) -> None:
    """Raise InvalidRequest, naming the parameter and ``vendor``, for what it cannot take."""
    response_format = request.response_format
    if response_format is not None and response_format.type not in quirks.response_format_types:
        supported = ", ".join(sorted(quirks.response_format_types))
        raise InvalidRequest(
            f"response_format {response_format.type!r} is not supported by {vendor} "
            f"(supported: {supported})"
        )
    if limits.max_n is not None and request.n > limits.max_n:
        raise InvalidRequest(f"n={request.n} is not supported by {vendor} (at most {limits.max_n})")
    if limits.refuses_message_names:
        for position, message in enumerate(request.messages):
            if getattr(message, "name", None) is not None:
                raise InvalidRequest(f"messages[{position}].name is not supported by {vendor}")


class CompatVendorAdapter(OpenAIChatAdapter):
    """An OpenAI-compatible vendor: ``quirks`` shape answers and errors, ``limits`` requests."""

    docs: ClassVar[str] = ""
    limits: ClassVar[VendorLimits] = VendorLimits()

    def build_request(
        self, request: CompletionRequest, target: AdapterTarget, api_key: str
    ) -> HttpCall:
        check_vendor_limits(request, self.name, self.quirks, self.limits)
        call = super().build_request(request, target, api_key)
        if self.limits.tool_ids is None:
            return call
        body: dict[str, Any] = dict(call.json)
        body["messages"] = conform_tool_call_ids(body["messages"], self.limits.tool_ids)
        return replace(call, json=body)


def _codes(table: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(table))


class DeepSeekAdapter(CompatVendorAdapter):
    """DeepSeek: only json_object, 402 Insufficient Balance, its own cache-hit usage field."""

    name = "deepseek"
    docs = "https://api-docs.deepseek.com/api/create-chat-completion"
    quirks = CompatQuirks(
        # https://api-docs.deepseek.com/guides/json_mode (json_object only)
        response_format_types=frozenset({"text", "json_object"}),
        token_limit_field="max_tokens",
        # "the generation was interrupted for lack of inference resources": worth a retry
        error_finish_reasons=frozenset({"insufficient_system_resource"}),
        cached_tokens_path=("prompt_cache_hit_tokens",),
        # https://api-docs.deepseek.com/quick_start/error_codes: 402 and 503 are in the base table
    )


class MistralAdapter(CompatVendorAdapter):
    """Mistral: random_seed, 9-character tool-call ids, model_length and error finish reasons."""

    name = "mistral"
    docs = "https://docs.mistral.ai/api/#tag/chat"
    quirks = CompatQuirks(
        token_limit_field="max_tokens",
        renamed_fields=MappingProxyType({"seed": "random_seed"}),
        # Mistral has no `user`; like metadata, it only labels the caller, so it is not sent
        dropped_fields=frozenset({"metadata", "user"}),
        extra_finish_reasons=MappingProxyType({"model_length": "length"}),
        error_finish_reasons=frozenset({"error"}),
    )
    limits = VendorLimits(tool_ids=MISTRAL_TOOL_IDS)


class GroqAdapter(CompatVendorAdapter):
    """Groq: n must be 1 and messages[].name is refused (https://console.groq.com/docs/openai)."""

    name = "groq"
    docs = "https://console.groq.com/docs/openai"
    quirks = CompatQuirks()
    limits = VendorLimits(max_n=1, refuses_message_names=True)


class TogetherAdapter(CompatVendorAdapter):
    """Together: a context overflow comes as 403 (its message names the context length)."""

    name = "together"
    docs = "https://docs.together.ai/docs/error-codes"
    quirks = CompatQuirks(token_limit_field="max_tokens")


class QwenAdapter(CompatVendorAdapter):
    """Qwen through DashScope's OpenAI-compatible mode, whose error codes are its own."""

    name = "qwen"
    docs = "https://www.alibabacloud.com/help/en/model-studio/error-code"
    quirks = CompatQuirks(
        token_limit_field="max_tokens",
        extra_error_codes=_codes(
            {
                # 400 "Input or output data may contain inappropriate content."
                "data_inspection_failed": ContentBlocked,
                "DataInspectionFailed": ContentBlocked,
                # 400 "Access denied, please make sure your account is in good standing."
                "Arrearage": QuotaExhausted,
                "InvalidApiKey": AuthError,
                "Throttling": RateLimited,
                "Throttling.RateQuota": RateLimited,
                "Throttling.AllocationQuota": RateLimited,
            }
        ),
    )


class OpenRouterAdapter(CompatVendorAdapter):
    """OpenRouter: numeric error codes equal to the status, 403 for a moderation flag, and
    failures after the model started reported in a 200 body."""

    name = "openrouter"
    docs = "https://openrouter.ai/docs/api/reference/errors-and-debugging"
    quirks = CompatQuirks(
        token_limit_field="max_tokens",
        extra_statuses=MappingProxyType({403: ContentBlocked}),
        # error.code repeats the status, which matters when the HTTP status is 200
        extra_error_codes=_codes(
            {
                "401": AuthError,
                "402": QuotaExhausted,
                "403": ContentBlocked,
                "408": ProviderTimeout,
                "429": RateLimited,
                "502": ServerError,
                "503": Overloaded,
            }
        ),
    )


class VllmAdapter(CompatVendorAdapter):
    """A vLLM server: flat error bodies, a key only when started with --api-key."""

    name = "vllm"
    docs = "https://docs.vllm.ai/en/latest/serving/openai_compatible_server.html"
    quirks = CompatQuirks(token_limit_field="max_tokens")


class OllamaAdapter(CompatVendorAdapter):
    """An Ollama server: no key locally, and no ``n`` among its supported fields."""

    name = "ollama"
    docs = "https://docs.ollama.com/api/openai-compatibility"
    quirks = CompatQuirks(token_limit_field="max_tokens")
    limits = VendorLimits(max_n=1)


COMPAT_VENDORS: tuple[CompatVendorAdapter, ...] = (
    DeepSeekAdapter(),
    MistralAdapter(),
    GroqAdapter(),
    TogetherAdapter(),
    QwenAdapter(),
    OpenRouterAdapter(),
    VllmAdapter(),
    OllamaAdapter(),
)
