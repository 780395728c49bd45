"""OpenAIChatAdapter.parse_response: a 2xx body into ParsedResponse.

Sample bodies (tests/adapters/openai_samples.py) follow openai/openai-openapi's ChatCompletion.
"""

from __future__ import annotations

import copy
import json
from typing import Any, get_args

import pytest

from adapters.base import AdapterTarget, ParsedResponse
from adapters.errors import QuotaExhausted, ServerError
from adapters.finish_reasons import FINISH_REASONS
from adapters.openai_chat import OpenAIChatAdapter
from adapters.openai_quirks import FINISH_REASON_TABLE, CompatQuirks
from broker.jobs import Choice
from tests.adapters import openai_samples as samples

TARGET = AdapterTarget(provider="openai", base_url="https://api.openai.com/v1", model_id="gpt-4.1")


def parse(document: dict[str, Any], adapter: OpenAIChatAdapter | None = None) -> ParsedResponse:
    return (adapter or OpenAIChatAdapter()).parse_response(
        200, {}, samples.as_bytes(document), TARGET
    )


def test_plain_completion_keeps_id_model_created_text_and_fingerprint() -> None:
    parsed = parse(samples.PLAIN_COMPLETION)
    assert parsed.id == "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT"
    assert parsed.model == "gpt-4.1-2025-04-14"
    assert parsed.created == 1741569952
    assert parsed.system_fingerprint == "fp_50cad350e4"
    assert len(parsed.choices) == 1
    choice = parsed.choices[0]
    assert choice.index == 0
    assert choice.finish_reason == "stop"
    assert choice.message.content == "Hello! How can I assist you today?"
    assert choice.message.tool_calls is None
    assert choice.message.refusal is None


def test_plain_completion_usage_is_copied() -> None:
    usage = parse(samples.PLAIN_COMPLETION).usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (19, 10, 29)
    assert (usage.cached_tokens, usage.reasoning_tokens) == (0, 0)


def test_tool_call_completion_keeps_the_call_and_its_arguments_string() -> None:
    choice = parse(samples.TOOL_CALL_COMPLETION).choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    assert choice.message.tool_calls is not None
    (call,) = choice.message.tool_calls
    assert call.id == "call_abc123"
    assert call.type == "function"
    assert call.function.name == "get_current_weather"
    assert json.loads(call.function.arguments) == {"location": "Boston, MA"}


def test_refusal_is_preserved_with_null_content() -> None:
    choice = parse(samples.REFUSAL_COMPLETION).choices[0]
    assert choice.message.refusal == "I'm sorry, I can't assist with that request."
    assert choice.message.content is None


def test_cached_and_reasoning_tokens_come_from_the_details_objects() -> None:
    """OpenAI's convention, kept as is: prompt_tokens includes the cached tokens and
    completion_tokens includes the reasoning tokens (openapi CompletionUsage)."""
    parsed = parse(samples.REASONING_CACHED_COMPLETION)
    usage = parsed.usage
    assert usage.prompt_tokens == 2006
    assert usage.cached_tokens == 1920
    assert usage.completion_tokens == 300
    assert usage.reasoning_tokens == 256
    assert usage.total_tokens == 2306
    assert parsed.choices[0].finish_reason == "length"
    assert parsed.system_fingerprint is None


def test_missing_usage_counts_zero_and_null_counts_are_zero() -> None:
    without = {k: v for k, v in samples.PLAIN_COMPLETION.items() if k != "usage"}
    nulls = {**samples.PLAIN_COMPLETION, "usage": {"prompt_tokens": 5, "completion_tokens": None,
                                                   "prompt_tokens_details": None}}
    assert parse(without).usage.total_tokens == 0
    usage = parse(nulls).usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (5, 0, 5)
    assert usage.cached_tokens == 0


def test_every_openai_finish_reason_maps_to_itself() -> None:
    for reason in FINISH_REASONS:
        document = copy.deepcopy(samples.PLAIN_COMPLETION)
        document["choices"][0]["finish_reason"] = reason
        assert parse(document).choices[0].finish_reason == reason


def test_the_finish_reason_table_covers_exactly_what_choice_accepts() -> None:
    accepted = set(get_args(Choice.model_fields["finish_reason"].annotation))
    assert set(FINISH_REASON_TABLE) == accepted
    assert FINISH_REASONS == accepted


def test_an_unknown_finish_reason_becomes_stop_instead_of_failing() -> None:
    document = copy.deepcopy(samples.PLAIN_COMPLETION)
    document["choices"][0]["finish_reason"] = "brand_new_reason"
    choice = parse(document).choices[0]
    assert choice.finish_reason == "stop"
    assert choice.message.content == "Hello! How can I assist you today?"


def test_an_unknown_finish_reason_with_tool_calls_becomes_tool_calls() -> None:
    document = copy.deepcopy(samples.TOOL_CALL_COMPLETION)
    document["choices"][0]["finish_reason"] = None
    assert parse(document).choices[0].finish_reason == "tool_calls"


def test_a_vendor_failure_finish_reason_raises_server_error() -> None:
    """DeepSeek's insufficient_system_resource: generation interrupted (provider-formats 1.4)."""

    class DeepSeekLike(OpenAIChatAdapter):
        name = "deepseek-like"
        quirks = CompatQuirks(error_finish_reasons=frozenset({"insufficient_system_resource"}))

    document = copy.deepcopy(samples.PLAIN_COMPLETION)
    document["choices"][0]["finish_reason"] = "insufficient_system_resource"
    with pytest.raises(ServerError, match="insufficient_system_resource"):
        parse(document, DeepSeekLike())


def test_a_vendor_extra_finish_reason_maps_through_its_quirks() -> None:
    """Mistral's model_length (provider-formats 1.4)."""

    class MistralLike(OpenAIChatAdapter):
        name = "mistral-like"
        quirks = CompatQuirks(extra_finish_reasons={"model_length": "length"})

    document = copy.deepcopy(samples.PLAIN_COMPLETION)
    document["choices"][0]["finish_reason"] = "model_length"
    assert parse(document, MistralLike()).choices[0].finish_reason == "length"


def test_quirks_can_read_cached_tokens_from_another_field() -> None:
    """DeepSeek reports cache hits as usage.prompt_cache_hit_tokens (provider-formats 1.4)."""

    class DeepSeekLike(OpenAIChatAdapter):
        name = "deepseek-like"
        quirks = CompatQuirks(cached_tokens_path=("prompt_cache_hit_tokens",))

    document = copy.deepcopy(samples.PLAIN_COMPLETION)
    document["usage"] = {"prompt_tokens": 100, "completion_tokens": 5, "total_tokens": 105,
                         "prompt_cache_hit_tokens": 64, "prompt_cache_miss_tokens": 36}
    assert parse(document, DeepSeekLike()).usage.cached_tokens == 64


def test_tool_call_arguments_sent_as_an_object_become_a_json_string() -> None:
    document = copy.deepcopy(samples.TOOL_CALL_COMPLETION)
    function = document["choices"][0]["message"]["tool_calls"][0]["function"]
    function["arguments"] = {"location": "Boston, MA"}
    (call,) = parse(document).choices[0].message.tool_calls or []
    assert json.loads(call.function.arguments) == {"location": "Boston, MA"}


def test_content_given_as_text_parts_is_joined() -> None:
    document = copy.deepcopy(samples.PLAIN_COMPLETION)
    document["choices"][0]["message"]["content"] = [
        {"type": "text", "text": "Hello, "}, {"type": "text", "text": "world"}
    ]
    assert parse(document).choices[0].message.content == "Hello, world"


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"<html><body>502 Bad Gateway</body></html>",
        b"[1, 2, 3]",
        b'{"id": "chatcmpl-1", "object": "chat.completion"}',
        b'{"id": "chatcmpl-1", "choices": "nope"}',
        b'{"id": "chatcmpl-1", "choices": []}',
        b'{"id": "chatcmpl-1", "choices": [{"index": 0, "finish_reason": "stop"}]}',
        b'{"choices": [{"message": {"role": "assistant", "tool_calls": [{"type": "function"}]}}]}',
        b'{"choices": [{"message": {"role": "assistant", "content": 7}}]}',
    ],
)
def test_a_body_that_is_not_a_chat_completion_raises_server_error(body: bytes) -> None:
    with pytest.raises(ServerError) as raised:
        OpenAIChatAdapter().parse_response(200, {}, body, TARGET)
    assert raised.value.status_code == 200


def test_an_error_object_sent_with_status_200_is_classified_as_that_error() -> None:
    with pytest.raises(QuotaExhausted):
        OpenAIChatAdapter().parse_response(
            200, {}, samples.ERROR_BODIES["insufficient_quota"], TARGET
        )
