"""GeminiAdapter.parse_response: a GenerateContentResponse as a chat.completion.

Shapes: https://ai.google.dev/api/generate-content#generatecontentresponse, python-genai
``types.FinishReason``/``BlockedReason``/``GenerateContentResponseUsageMetadata``; mapping in
provider-formats.md section 4.3.
"""

from __future__ import annotations

from typing import Any

import pytest

from adapters.errors import AuthError, ContentBlocked, ProviderError, ServerError, TargetError
from adapters.gemini import GeminiAdapter
from adapters.gemini.response import FINISH_REASON_TABLE
from adapters.gemini.signatures import decode_tool_call_id
from tests.adapters.gemini_samples import TARGET, as_bytes, text_response

ADAPTER = GeminiAdapter()


def parse(payload: dict[str, Any]) -> Any:
    return ADAPTER.parse_response(200, {}, as_bytes(payload), TARGET)


def test_text_answer_becomes_one_stop_choice_with_usage() -> None:
    parsed = parse(text_response("Hello there."))
    (choice,) = parsed.choices
    assert choice.message.content == "Hello there."
    assert choice.finish_reason == "stop"
    assert parsed.id == "resp-1"
    assert parsed.model == "gemini-2.5-flash"
    assert parsed.usage.prompt_tokens == 8
    assert parsed.usage.completion_tokens == 3
    assert parsed.usage.total_tokens == 11


def test_thought_parts_are_left_out_of_the_content() -> None:
    """Part.thought marks thought summaries (python-genai types.Part.thought)."""
    payload = text_response()
    payload["candidates"][0]["content"]["parts"] = [
        {"text": "Let me think...", "thought": True},
        {"text": "Paris."},
    ]
    assert parse(payload).choices[0].message.content == "Paris."


def test_usage_counts_thinking_as_completion_and_reasoning_tokens() -> None:
    """python-genai: total = prompt + candidates + toolUsePrompt + thoughts, so candidates
    excludes thinking; OpenAI's completion_tokens includes it."""
    payload = text_response(
        usageMetadata={
            "promptTokenCount": 100,
            "candidatesTokenCount": 20,
            "thoughtsTokenCount": 50,
            "cachedContentTokenCount": 60,
            "totalTokenCount": 170,
        }
    )
    usage = parse(payload).usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (100, 70, 170)
    assert (usage.cached_tokens, usage.reasoning_tokens) == (60, 50)


def test_usage_whose_candidates_already_hold_the_thinking_is_not_counted_twice() -> None:
    payload = text_response(
        usageMetadata={
            "promptTokenCount": 100,
            "candidatesTokenCount": 70,
            "thoughtsTokenCount": 50,
            "totalTokenCount": 170,
        }
    )
    usage = parse(payload).usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (100, 70, 170)
    assert usage.reasoning_tokens == 50


def test_usage_counts_tool_use_prompt_tokens_in_the_prompt_and_adds_up() -> None:
    """https://ai.google.dev/api/generate-content#UsageMetadata: toolUsePromptTokenCount is
    input of tool use (code execution, search), part of totalTokenCount."""
    payload = text_response(
        usageMetadata={
            "promptTokenCount": 100,
            "toolUsePromptTokenCount": 30,
            "candidatesTokenCount": 20,
            "thoughtsTokenCount": 10,
            "totalTokenCount": 160,
        }
    )
    usage = parse(payload).usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (130, 30, 160)


def function_call_response(signature: str | None = "CiQBcsjafH8=") -> dict[str, Any]:
    """Gemini 3 function call with its sibling thoughtSignature
    (https://ai.google.dev/gemini-api/docs/thought-signatures)."""
    part: dict[str, Any] = {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}
    if signature is not None:
        part["thoughtSignature"] = signature
    payload = text_response()
    payload["candidates"][0]["content"]["parts"] = [
        part,
        {"functionCall": {"name": "get_weather", "args": {"city": "Rome"}}},
    ]
    return payload


def test_function_calls_become_tool_calls_and_finish_reason_tool_calls() -> None:
    (choice,) = parse(function_call_response()).choices
    assert choice.finish_reason == "tool_calls"  # Gemini itself says STOP
    assert choice.message.content is None
    calls = choice.message.tool_calls
    assert calls is not None and len(calls) == 2
    assert [c.function.arguments for c in calls] == ['{"city": "Paris"}', '{"city": "Rome"}']
    assert calls[0].id.startswith("call_") and calls[0].id != calls[1].id


def test_tool_call_ids_are_deterministic() -> None:
    first = parse(function_call_response()).choices[0].message.tool_calls
    again = parse(function_call_response()).choices[0].message.tool_calls
    assert [c.id for c in first or ()] == [c.id for c in again or ()]


def test_thought_signature_rides_in_the_tool_call_id() -> None:
    calls = parse(function_call_response("CiQBcsjafH8=")).choices[0].message.tool_calls or []
    assert decode_tool_call_id(calls[0].id)[1] == "CiQBcsjafH8="
    assert decode_tool_call_id(calls[1].id)[1] is None


@pytest.mark.parametrize(
    ("native", "expected"),
    [
        ("STOP", "stop"),
        ("MAX_TOKENS", "length"),
        ("SAFETY", "content_filter"),
        ("RECITATION", "content_filter"),
        ("BLOCKLIST", "content_filter"),
        ("PROHIBITED_CONTENT", "content_filter"),
        ("SPII", "content_filter"),
        ("OTHER", "content_filter"),
        ("SOMETHING_NEW", "stop"),
    ],
)
def test_finish_reasons_map_through_the_table(native: str, expected: str) -> None:
    """Values from python-genai types.FinishReason."""
    payload = text_response()
    payload["candidates"][0]["finishReason"] = native
    assert parse(payload).choices[0].finish_reason == expected


@pytest.mark.parametrize(
    ("native", "error"),
    [
        ("MALFORMED_FUNCTION_CALL", ServerError),
        ("UNEXPECTED_TOOL_CALL", ServerError),
        ("MISSING_THOUGHT_SIGNATURE", TargetError),
        ("PUP_LIMITED_DISABLED", AuthError),
    ],
)
def test_failed_generations_raise_instead_of_answering(
    native: str, error: type[ProviderError]
) -> None:
    payload = text_response()
    payload["candidates"][0]["finishReason"] = native
    with pytest.raises(error) as caught:
        parse(payload)
    assert caught.value.provider_code == native


def test_every_documented_finish_reason_is_either_mapped_or_an_error() -> None:
    genai = pytest.importorskip("google.genai")
    from adapters.gemini.response import ERROR_FINISH_REASONS

    known = set(FINISH_REASON_TABLE) | set(ERROR_FINISH_REASONS)
    assert {reason.value for reason in genai.types.FinishReason} <= known


def test_safety_stopped_candidate_without_content_is_content_filter() -> None:
    """FinishReason.SAFETY: "the content field is empty if content filters block the output"."""
    payload = text_response()
    payload["candidates"] = [{"finishReason": "SAFETY", "index": 0, "safetyRatings": []}]
    (choice,) = parse(payload).choices
    assert choice.finish_reason == "content_filter"
    assert choice.message.content is None


def test_blocked_prompt_without_candidates_is_content_blocked() -> None:
    """promptFeedback.blockReason (python-genai BlockedReason) with no candidates."""
    payload = {
        "promptFeedback": {"blockReason": "PROHIBITED_CONTENT"},
        "usageMetadata": {"promptTokenCount": 5, "totalTokenCount": 5},
        "modelVersion": "gemini-2.5-flash",
    }
    with pytest.raises(ContentBlocked) as caught:
        parse(payload)
    assert caught.value.provider_code == "PROHIBITED_CONTENT"
    assert caught.value.status_code == 200


def test_several_candidates_become_several_choices() -> None:
    payload = text_response("one")
    payload["candidates"].append(
        {
            "content": {"role": "model", "parts": [{"text": "two"}]},
            "finishReason": "STOP",
            "index": 1,
        }
    )
    parsed = parse(payload)
    assert [(c.index, c.message.content) for c in parsed.choices] == [(0, "one"), (1, "two")]


def test_unreadable_answer_is_a_server_error() -> None:
    with pytest.raises(ServerError):
        ADAPTER.parse_response(200, {}, b"<html>oops</html>", TARGET)
    with pytest.raises(ServerError):
        parse({"modelVersion": "x"})
