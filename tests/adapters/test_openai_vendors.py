"""The OpenAI-compatible vendors: request limits, answer quirks and error tables per vendor.

Sources: shared/reference/provider-formats.md section 1.4 and each vendor's docs, named per test.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from adapters.base import AdapterTarget
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
from adapters.openai_vendors import (
    COMPAT_VENDORS,
    CompatVendorAdapter,
    DeepSeekAdapter,
    GroqAdapter,
    MistralAdapter,
    OllamaAdapter,
    OpenRouterAdapter,
    QwenAdapter,
    TogetherAdapter,
    VllmAdapter,
)
from adapters.registry import get_adapter
from broker.jobs import CompletionRequest

GROUPING_CLASSES = {ProviderError, TransientError, TargetError}
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
SCHEMA_FORMAT = {
    "type": "json_schema",
    "json_schema": {"name": "answer", "schema": {"type": "object"}},
}


def target(provider: str, model: str = "some-model") -> AdapterTarget:
    return AdapterTarget(
        provider=provider, base_url=f"https://{provider}.example/v1", model_id=model
    )


def request(**fields: Any) -> CompletionRequest:
    fields.setdefault("messages", [{"role": "user", "content": "hi"}])
    return CompletionRequest.model_validate(fields)


def body_of(adapter: CompatVendorAdapter, req: CompletionRequest, key: str = "k") -> dict[str, Any]:
    return dict(adapter.build_request(req, target(adapter.name), key).json)


def completion(**overrides: Any) -> bytes:
    message = overrides.pop("message", {"role": "assistant", "content": "hello"})
    document = {
        "id": "x",
        "object": "chat.completion",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
    }
    for key, value in overrides.items():
        if key == "finish_reason":
            document["choices"][0]["finish_reason"] = value  # type: ignore[index]
        else:
            document[key] = value
    return json.dumps(document).encode()


def error_body(message: str, code: Any = None, **extra: Any) -> bytes:
    return json.dumps({"error": {"message": message, "code": code, **extra}}).encode()


# --- the registry ------------------------------------------------------------------------


@pytest.mark.parametrize("adapter", COMPAT_VENDORS, ids=lambda a: a.name)
def test_every_vendor_is_registered_under_its_name_with_a_docs_link(
    adapter: CompatVendorAdapter,
) -> None:
    assert get_adapter(adapter.name) is adapter
    assert adapter.docs.startswith("https://")


@pytest.mark.parametrize("adapter", COMPAT_VENDORS, ids=lambda a: a.name)
def test_every_vendor_posts_to_chat_completions_under_its_base_url(
    adapter: CompatVendorAdapter,
) -> None:
    call = adapter.build_request(request(), target(adapter.name), "key")
    assert call.url == f"https://{adapter.name}.example/v1/chat/completions"
    assert call.headers["Authorization"] == "Bearer key"
    assert call.json["model"] == "some-model"


@pytest.mark.parametrize("adapter", [OllamaAdapter(), VllmAdapter()], ids=lambda a: a.name)
def test_local_servers_need_no_key(adapter: CompatVendorAdapter) -> None:
    """docs.ollama.com/api/openai-compatibility: the key is ignored locally; vLLM checks one
    only when started with --api-key."""
    call = adapter.build_request(request(), target(adapter.name), "")
    assert "Authorization" not in call.headers


# --- DeepSeek ----------------------------------------------------------------------------


def test_deepseek_refuses_json_schema_naming_the_parameter_and_vendor() -> None:
    """https://api-docs.deepseek.com/guides/json_mode: only response_format json_object."""
    with pytest.raises(InvalidRequest, match=r"response_format 'json_schema'.*deepseek"):
        body_of(DeepSeekAdapter(), request(response_format=SCHEMA_FORMAT))
    body = body_of(DeepSeekAdapter(), request(response_format={"type": "json_object"}))
    assert body["response_format"] == {"type": "json_object"}


def test_deepseek_sends_max_tokens() -> None:
    body = body_of(DeepSeekAdapter(), request(max_completion_tokens=50))
    assert body["max_tokens"] == 50 and "max_completion_tokens" not in body


def test_deepseek_cache_hit_tokens_are_the_cached_tokens() -> None:
    """api-docs.deepseek.com/api/create-chat-completion: usage.prompt_cache_hit_tokens."""
    usage = {
        "prompt_tokens": 100,
        "completion_tokens": 20,
        "total_tokens": 120,
        "prompt_cache_hit_tokens": 64,
        "prompt_cache_miss_tokens": 36,
        "completion_tokens_details": {"reasoning_tokens": 12},
    }
    parsed = DeepSeekAdapter().parse_response(200, {}, completion(usage=usage), target("deepseek"))
    assert parsed.usage.prompt_tokens == 100
    assert parsed.usage.cached_tokens == 64
    assert parsed.usage.reasoning_tokens == 12


def test_deepseek_reasoning_content_is_dropped_and_the_answer_kept() -> None:
    message = {"role": "assistant", "content": "42", "reasoning_content": "Let me think..."}
    parsed = DeepSeekAdapter().parse_response(
        200, {}, completion(message=message), target("deepseek")
    )
    assert parsed.choices[0].message.content == "42"


def test_deepseek_insufficient_system_resource_finish_is_a_server_error() -> None:
    """ds-api crate FinishReason enum: insufficient_system_resource (generation interrupted)."""
    with pytest.raises(ServerError):
        DeepSeekAdapter().parse_response(
            200, {}, completion(finish_reason="insufficient_system_resource"), target("deepseek")
        )


def test_deepseek_402_insufficient_balance_is_quota_exhausted() -> None:
    """api-docs.deepseek.com/quick_start/error_codes: 402 Insufficient Balance."""
    body = error_body("Insufficient Balance", code="invalid_request_error", type="unknown_error")
    assert isinstance(DeepSeekAdapter().classify_error(402, {}, body), QuotaExhausted)


# --- Mistral -----------------------------------------------------------------------------


def test_mistral_sends_random_seed_and_max_tokens_and_no_user() -> None:
    """docs.mistral.ai/api chat: random_seed, max_tokens; no seed or user field."""
    body = body_of(MistralAdapter(), request(seed=7, max_completion_tokens=30, user="u-1"))
    assert body["random_seed"] == 7 and "seed" not in body
    assert body["max_tokens"] == 30
    assert "user" not in body


def test_a_tool_conversation_from_openai_and_anthropic_reaches_mistral_with_9_char_ids() -> None:
    """Ids `call_...` (OpenAI) and `toolu_...` (Anthropic) are rejected by Mistral
    (langchain-ai/langchain#24668); both sides of each pair get the same rewritten id."""
    conversation = request(
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Weather in Paris and Rome?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_0fypS1hVX",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                    },
                    {
                        "id": "toolu_01A09q90qw90lq917835lq9",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city":"Rome"}'},
                    },
                ],
            },
            {"role": "tool", "tool_call_id": "call_0fypS1hVX", "content": "18C"},
            {"role": "tool", "tool_call_id": "toolu_01A09q90qw90lq917835lq9", "content": "24C"},
        ],
        tools=[WEATHER_TOOL],
    )
    first = body_of(MistralAdapter(), conversation)
    messages = first["messages"]
    ids = [call["id"] for call in messages[2]["tool_calls"]]
    assert all(re.fullmatch(r"[A-Za-z0-9]{9}", call_id) for call_id in ids)
    assert [messages[3]["tool_call_id"], messages[4]["tool_call_id"]] == ids
    # deterministic: a retry or the next hop sends the very same ids
    assert body_of(MistralAdapter(), conversation)["messages"] == messages


def test_mistral_own_tool_call_ids_come_back_unchanged() -> None:
    """Mistral docs function-calling sample id "D681PevKs"."""
    call = {
        "id": "D681PevKs",
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
    }
    message = {"role": "assistant", "content": "", "tool_calls": [call]}
    parsed = MistralAdapter().parse_response(
        200, {}, completion(message=message, finish_reason="tool_calls"), target("mistral")
    )
    tool_calls = parsed.choices[0].message.tool_calls
    assert tool_calls is not None and tool_calls[0].id == "D681PevKs"
    follow_up = request(
        messages=[
            {"role": "user", "content": "Paris?"},
            {"role": "assistant", "tool_calls": [tool_calls[0].model_dump()]},
            {"role": "tool", "tool_call_id": "D681PevKs", "content": "18C"},
        ]
    )
    assert body_of(MistralAdapter(), follow_up)["messages"][2]["tool_call_id"] == "D681PevKs"


def test_mistral_model_length_finish_is_length_and_error_finish_is_a_server_error() -> None:
    """Mistral OpenAPI finish_reason enum: stop, length, model_length, error, tool_calls."""
    parsed = MistralAdapter().parse_response(
        200, {}, completion(finish_reason="model_length"), target("mistral")
    )
    assert parsed.choices[0].finish_reason == "length"
    with pytest.raises(ServerError):
        MistralAdapter().parse_response(200, {}, completion(finish_reason="error"), target("m"))


def test_mistral_flat_error_body_with_bad_tool_id_is_invalid_request() -> None:
    """The body quoted in langchain-ai/langchain#24668."""
    body = json.dumps(
        {
            "object": "error",
            "message": "Tool call id was abc123 but must be a-z, A-Z, 0-9, with a length of 9.",
            "type": "invalid_request_error",
            "param": None,
            "code": None,
        }
    ).encode()
    error = MistralAdapter().classify_error(400, {}, body)
    assert isinstance(error, InvalidRequest)
    assert "length of 9" in error.message


# --- Groq --------------------------------------------------------------------------------


def test_groq_refuses_n_above_one_and_message_names() -> None:
    """console.groq.com/docs/openai: messages[].name is a 400; "If N is supplied, it must be
    equal to 1"."""
    with pytest.raises(InvalidRequest, match=r"n=2.*groq"):
        body_of(GroqAdapter(), request(n=2))
    named = request(messages=[{"role": "user", "content": "hi", "name": "ann"}])
    with pytest.raises(InvalidRequest, match=r"messages\[0\]\.name.*groq"):
        body_of(GroqAdapter(), named)
    assert "n" not in body_of(GroqAdapter(), request(n=1))


def test_groq_429_keeps_its_retry_after_header() -> None:
    """console.groq.com/docs/rate-limits: retry-after is sent on 429."""
    error = GroqAdapter().classify_error(
        429, {"retry-after": "7"}, error_body("Rate limit reached", code="rate_limit_exceeded")
    )
    assert isinstance(error, RateLimited) and error.retry_after == 7.0


# --- Together ----------------------------------------------------------------------------


def test_together_403_context_length_is_context_too_long_not_auth() -> None:
    """Together reports the context overflow as 403 (provider-formats.md 1.4, traps #6)."""
    body = error_body(
        "Input validation error: Input token count + max_tokens must be less than the "
        "context length of the model",
        type="invalid_request_error",
    )
    assert isinstance(TogetherAdapter().classify_error(403, {}, body), ContextTooLong)


def test_together_402_and_503() -> None:
    """docs.together.ai/docs/error-codes: 402 spend limit, 503 engine overloaded."""
    assert isinstance(
        TogetherAdapter().classify_error(402, {}, error_body("limit")), QuotaExhausted
    )
    assert isinstance(TogetherAdapter().classify_error(503, {}, error_body("busy")), Overloaded)


# --- Qwen (DashScope compatible mode) ----------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (400, "data_inspection_failed", ContentBlocked),
        (400, "DataInspectionFailed", ContentBlocked),
        (400, "Arrearage", QuotaExhausted),
        (401, "InvalidApiKey", AuthError),
        (429, "Throttling.RateQuota", RateLimited),
    ],
)
def test_qwen_dashscope_error_codes(status: int, code: str, expected: type) -> None:
    """alibabacloud.com/help/en/model-studio/error-code: DataInspectionFailed ("Input or
    output data may contain inappropriate content."), Arrearage (account overdue),
    InvalidApiKey, Throttling.*."""
    error = QwenAdapter().classify_error(status, {}, error_body("refused", code=code))
    assert type(error) is expected


# --- OpenRouter --------------------------------------------------------------------------


def test_openrouter_403_moderation_flag_is_content_blocked() -> None:
    """openrouter.ai/docs/api/reference/errors-and-debugging: "403: Your chosen model requires
    moderation and your input was flagged"; error.code is the number."""
    body = error_body(
        "Your chosen model requires moderation and your input was flagged",
        code=403,
        metadata={"reasons": ["harassment"], "flagged_input": "..."},
    )
    assert isinstance(OpenRouterAdapter().classify_error(403, {}, body), ContentBlocked)


def test_openrouter_error_in_a_200_body_is_classified_by_its_code() -> None:
    """Same page: once the model started, errors come with HTTP 200 in the body."""
    body = json.dumps({"error": {"code": 502, "message": "Provider returned error"}}).encode()
    with pytest.raises(ServerError):
        OpenRouterAdapter().parse_response(200, {}, body, target("openrouter"))
    busy = json.dumps({"error": {"code": 429, "message": "Rate limited"}}).encode()
    with pytest.raises(RateLimited):
        OpenRouterAdapter().parse_response(200, {}, busy, target("openrouter"))


# --- vLLM --------------------------------------------------------------------------------


def test_vllm_flat_context_error_is_context_too_long() -> None:
    """vLLM error body {"object":"error","message":...,"type":"BadRequestError","code":400}."""
    body = json.dumps(
        {
            "object": "error",
            "message": "This model's maximum context length is 4096 tokens. However, you "
            "requested 5000 tokens.",
            "type": "BadRequestError",
            "param": None,
            "code": 400,
        }
    ).encode()
    assert isinstance(VllmAdapter().classify_error(400, {}, body), ContextTooLong)


def test_ollama_refuses_n_above_one() -> None:
    """docs.ollama.com/api/openai-compatibility lists no `n` among the supported fields."""
    with pytest.raises(InvalidRequest, match="ollama"):
        body_of(OllamaAdapter(), request(n=3))


# --- every documented status to a specific class -----------------------------------------

# vendor -> {status: class}, from each vendor's error page (docs link on the adapter)
DOCUMENTED: dict[str, dict[int, type[ProviderError]]] = {
    # api-docs.deepseek.com/quick_start/error_codes
    "deepseek": {
        400: InvalidRequest,
        401: AuthError,
        402: QuotaExhausted,
        422: InvalidRequest,
        429: RateLimited,
        500: ServerError,
        503: Overloaded,
    },
    # docs.mistral.ai (HTTP errors of the chat endpoint)
    "mistral": {
        400: InvalidRequest,
        401: AuthError,
        422: InvalidRequest,
        429: RateLimited,
        500: ServerError,
        503: Overloaded,
    },
    # console.groq.com/docs/errors
    "groq": {
        400: InvalidRequest,
        401: AuthError,
        404: ModelNotFound,
        413: InvalidRequest,
        422: InvalidRequest,
        429: RateLimited,
        500: ServerError,
        502: ServerError,
        503: Overloaded,
    },
    # docs.together.ai/docs/error-codes
    "together": {
        400: InvalidRequest,
        401: AuthError,
        402: QuotaExhausted,
        403: AuthError,
        404: ModelNotFound,
        429: RateLimited,
        500: ServerError,
        502: ServerError,
        503: Overloaded,
    },
    # alibabacloud.com/help/en/model-studio/error-code
    "qwen": {
        400: InvalidRequest,
        401: AuthError,
        403: AuthError,
        404: ModelNotFound,
        429: RateLimited,
        500: ServerError,
        503: Overloaded,
    },
    # openrouter.ai/docs/api/reference/errors-and-debugging
    "openrouter": {
        400: InvalidRequest,
        401: AuthError,
        402: QuotaExhausted,
        403: ContentBlocked,
        408: ProviderTimeout,
        429: RateLimited,
        502: ServerError,
        503: Overloaded,
    },
    "vllm": {400: InvalidRequest, 401: AuthError, 404: ModelNotFound, 500: ServerError},
    "ollama": {400: InvalidRequest, 404: ModelNotFound, 500: ServerError},
}


@pytest.mark.parametrize(
    ("vendor", "status", "expected"),
    [
        (vendor, status, cls)
        for vendor, table in DOCUMENTED.items()
        for status, cls in table.items()
    ],
)
def test_every_documented_vendor_status_maps_to_a_specific_class(
    vendor: str, status: int, expected: type[ProviderError]
) -> None:
    error = get_adapter(vendor).classify_error(status, {}, error_body("something failed"))
    assert type(error) is expected
    assert type(error) not in GROUPING_CLASSES
    assert error.status_code == status


def test_every_vendor_has_a_documented_status_table() -> None:
    assert set(DOCUMENTED) == {adapter.name for adapter in COMPAT_VENDORS}
