"""AzureOpenAIAdapter: deployment URLs, api-version, api-key, and Azure's own error habits.

Sources: openai-python ``src/openai/lib/azure.py`` (URL, ``api-version`` query, ``api-key``
header), learn.microsoft.com Azure OpenAI API version lifecycle (the v1 API), and the error
bodies quoted in shared/reference/provider-formats.md section 2 (openai-agents-python#806).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from adapters.azure_openai import AzureOpenAIAdapter, retry_after_from_message
from adapters.base import AdapterTarget
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
    UnsupportedParameter,
)
from adapters.registry import get_adapter
from broker.jobs import CompletionRequest

BASE = "https://my-resource.openai.azure.com"
AZURE_429 = {
    "error": {
        "code": "429",
        "message": "Requests to the ChatCompletions_Create Operation under Azure OpenAI API "
        "version 2024-08-01-preview have exceeded token rate limit of your current OpenAI S0 "
        "pricing tier. Please retry after 86400 seconds. Please go here: "
        "https://aka.ms/oai/quotaincrease if you would like to further increase the default "
        "rate limit.",
    }
}
AZURE_PROMPT_FILTER = {
    "error": {
        "message": "The response was filtered due to the prompt triggering Azure OpenAI's "
        "content management policy. Please modify your prompt and retry.",
        "type": None,
        "param": "prompt",
        "code": "content_filter",
        "status": 400,
        "innererror": {
            "code": "ResponsibleAIPolicyViolation",
            "content_filter_result": {"jailbreak": {"detected": True, "filtered": True}},
        },
    }
}


def target(api_version: str | None = "2024-10-21", deployment: str = "gpt4o-prod") -> AdapterTarget:
    options = {} if api_version is None else {"api_version": api_version}
    return AdapterTarget(provider="azure", base_url=BASE, model_id=deployment, options=options)


def request(**fields: Any) -> CompletionRequest:
    fields.setdefault("messages", [{"role": "user", "content": "hi"}])
    return CompletionRequest.model_validate(fields)


def as_bytes(document: dict[str, Any]) -> bytes:
    return json.dumps(document).encode()


def test_azure_is_registered() -> None:
    assert isinstance(get_adapter("azure"), AzureOpenAIAdapter)


def test_classic_call_goes_to_the_deployment_with_api_version_and_api_key() -> None:
    """openai-python lib/azure.py: {endpoint}/openai/deployments/{deployment}, default_query
    api-version, header api-key."""
    call = AzureOpenAIAdapter().build_request(request(max_tokens=20), target(), "azure-key")
    assert call.url == f"{BASE}/openai/deployments/gpt4o-prod/chat/completions"
    assert call.params == {"api-version": "2024-10-21"}
    assert call.headers["api-key"] == "azure-key"
    assert "Authorization" not in call.headers
    assert "model" not in call.json
    assert call.json["stream"] is False


@pytest.mark.parametrize(
    ("api_version", "field"),
    [
        # stable/2024-10-21/inference.yaml createChatCompletionRequest: max_tokens only
        ("2024-10-21", "max_tokens"),
        ("2024-06-01", "max_tokens"),
        ("2024-08-01-preview", "max_tokens"),
        # max_completion_tokens arrived with the o1 models in 2024-09-01-preview
        ("2024-09-01-preview", "max_completion_tokens"),
        ("2025-04-01-preview", "max_completion_tokens"),
        ("v1", "max_completion_tokens"),
    ],
)
def test_older_api_versions_get_the_limit_in_max_tokens(api_version: str, field: str) -> None:
    call = AzureOpenAIAdapter().build_request(
        request(max_completion_tokens=20), target(api_version), "azure-key"
    )
    assert call.json[field] == 20
    other = {"max_tokens", "max_completion_tokens"} - {field}
    assert not other & set(call.json)


def test_unrecognized_argument_400_is_unsupported_parameter_and_reroutes() -> None:
    body = {
        "error": {
            "message": "Unrecognized request argument supplied: max_completion_tokens",
            "type": "invalid_request_error",
            "param": None,
            "code": None,
        }
    }
    error = AzureOpenAIAdapter().classify_error(400, {}, as_bytes(body))
    assert type(error) is UnsupportedParameter
    assert isinstance(error, TargetError)


def test_v1_api_has_no_api_version_and_names_the_deployment_in_the_body() -> None:
    """Azure v1 API (Aug 2025): {endpoint}/openai/v1/chat/completions, model = deployment."""
    call = AzureOpenAIAdapter().build_request(request(), target("v1"), "azure-key")
    assert call.url == f"{BASE}/openai/v1/chat/completions"
    assert call.params == {}
    assert call.json["model"] == "gpt4o-prod"
    assert call.headers["api-key"] == "azure-key"


def test_a_target_without_api_version_is_a_catalog_error_naming_the_option() -> None:
    """openai-python raises without an api_version; here it is a target error (reroute),
    not a bad request, since the caller's request is fine."""
    with pytest.raises(ModelNotFound, match=r"options\.api_version") as raised:
        AzureOpenAIAdapter().build_request(request(), target(None), "k")
    assert "azure" in raised.value.message
    assert not isinstance(raised.value, InvalidRequest)


def test_azure_429_takes_the_wait_from_the_message_when_no_header_says_it() -> None:
    error = AzureOpenAIAdapter().classify_error(429, {}, as_bytes(AZURE_429))
    assert isinstance(error, RateLimited)
    assert error.retry_after == 86400.0
    assert error.provider_code == "429"


def test_azure_429_retry_after_header_wins_over_the_message() -> None:
    error = AzureOpenAIAdapter().classify_error(
        429, {"retry-after-ms": "1500", "retry-after": "2"}, as_bytes(AZURE_429)
    )
    assert error.retry_after == 1.5


def test_retry_after_is_read_from_message_text() -> None:
    assert retry_after_from_message("Please retry after 6 seconds.") == 6.0
    assert retry_after_from_message("Please try again later.") is None


def test_prompt_filter_400_is_content_blocked() -> None:
    """The 400 content_filter body of openai/openai-agents-python#806."""
    error = AzureOpenAIAdapter().classify_error(400, {}, as_bytes(AZURE_PROMPT_FILTER))
    assert isinstance(error, ContentBlocked)


def test_responsible_ai_inner_code_alone_is_content_blocked() -> None:
    body = {
        "error": {
            "message": "blocked",
            "code": "BadRequest",
            "innererror": {"code": "ResponsibleAIPolicyViolation"},
        }
    }
    assert isinstance(AzureOpenAIAdapter().classify_error(400, {}, as_bytes(body)), ContentBlocked)


def test_completion_filtered_on_output_passes_content_filter_through() -> None:
    """Azure: a filtered completion is HTTP 200 with finish_reason content_filter."""
    answer = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4o-2024-08-06",
        "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": {}}],
        "choices": [
            {
                "index": 0,
                "finish_reason": "content_filter",
                "message": {"role": "assistant", "content": None},
                "content_filter_results": {"violence": {"filtered": True, "severity": "high"}},
            }
        ],
        "usage": {"prompt_tokens": 9, "completion_tokens": 0, "total_tokens": 9},
    }
    parsed = AzureOpenAIAdapter().parse_response(200, {}, as_bytes(answer), target())
    assert parsed.choices[0].finish_reason == "content_filter"
    assert parsed.choices[0].message.content is None


def test_multi_turn_tool_use_keeps_openai_ids_on_azure() -> None:
    conversation = request(
        messages=[
            {"role": "user", "content": "Weather in Paris?"},
            {
                "role": "assistant",
                "tool_calls": [
                    {
                        "id": "call_abc123",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_abc123", "content": "18C"},
        ],
        tools=[{"type": "function", "function": {"name": "get_weather"}}],
        tool_choice="auto",
    )
    body = AzureOpenAIAdapter().build_request(conversation, target(), "k").json
    assert body["messages"][1]["tool_calls"][0]["id"] == "call_abc123"
    assert body["messages"][2]["tool_call_id"] == "call_abc123"
    assert body["tool_choice"] == "auto"


# Azure OpenAI REST reference (learn.microsoft.com .../reference) error statuses
DOCUMENTED: dict[int, type[ProviderError]] = {
    400: InvalidRequest,
    401: AuthError,
    403: AuthError,
    404: ModelNotFound,  # DeploymentNotFound
    408: TransientError,
    429: RateLimited,
    500: ServerError,
    503: Overloaded,
}


@pytest.mark.parametrize(("status", "expected"), sorted(DOCUMENTED.items()))
def test_every_documented_azure_status_maps_to_a_specific_class(
    status: int, expected: type[ProviderError]
) -> None:
    body = as_bytes({"error": {"code": str(status), "message": "something failed"}})
    error = AzureOpenAIAdapter().classify_error(status, {}, body)
    assert isinstance(error, expected)
    assert type(error) not in {ProviderError, TransientError, TargetError}


def test_azure_context_length_and_quota_codes_keep_their_openai_meaning() -> None:
    context = {"error": {"code": "context_length_exceeded", "message": "too long"}}
    quota = {"error": {"code": "insufficient_quota", "message": "quota"}}
    adapter = AzureOpenAIAdapter()
    assert isinstance(adapter.classify_error(400, {}, as_bytes(context)), ContextTooLong)
    assert isinstance(adapter.classify_error(429, {}, as_bytes(quota)), QuotaExhausted)
