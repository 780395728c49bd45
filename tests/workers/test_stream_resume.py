"""Where a streamed attempt starts after an earlier one left part of an answer
(workers/stream_resume.py): pure decisions from the stream's entries, the attempts before, and
the target's prefill capability. Anthropic continues a final assistant turn and refuses one
that ends in whitespace ("Prefill Claude's response",
https://docs.claude.com/en/docs/prefill-claudes-response)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from broker.job_streams import StreamEntry
from broker.jobs import Attempt, AttemptOutcome, CompletionRequest, TargetRef
from routing.catalog import ModelConfig, Price
from workers.stream_resume import (
    Delivered,
    can_prefill,
    delivered_since_reset,
    plan_resume,
    prefill_request,
)

CUT = Attempt(
    target=TargetRef(
        provider="alpha", model="a1", model_id="alpha-small-1", tier="fast", queue="fast.alpha"
    ),
    hop=0,
    number=1,
    outcome=AttemptOutcome.REROUTE,
    started_at=datetime(2026, 1, 1, tzinfo=UTC),
    duration_s=0.5,
    error_class="ProviderConnectionError",
    error_message="stream cut: the body ended before the answer's finish reason",
)


def _chunk(number: int, **delta: Any) -> StreamEntry:
    finish = delta.pop("finish_reason", None)
    data = {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    return StreamEntry(f"{number}-0", "chunk", data)


def _request(**fields: Any) -> CompletionRequest:
    return CompletionRequest.model_validate(
        {"messages": [{"role": "user", "content": "Tell me a story."}], **fields}
    )


def _model(prefill: bool) -> ModelConfig:
    return ModelConfig(
        name="c1",
        provider="claude",
        model_id="claude-haiku",
        context_window=200_000,
        price=Price(input=1, output=5),
        prefill=prefill,
    )


def test_what_was_delivered_is_the_text_since_the_last_reset() -> None:
    entries = [
        _chunk(1, role="assistant", content=""),
        _chunk(2, content="Old"),
        StreamEntry("3-0", "reset", {"error_class": "ServerError"}),
        _chunk(4, role="assistant", content=""),
        _chunk(5, content="Once"),
        _chunk(6, content=" upon"),
    ]

    assert delivered_since_reset(entries) == Delivered("Once upon", 3, more_than_text=False)


@pytest.mark.parametrize(
    "extra",
    [
        _chunk(9, tool_calls=[{"index": 0, "id": "call_1"}]),
        _chunk(9, content="", finish_reason="stop"),
        StreamEntry("9-0", "chunk", {"choices": [], "usage": {"total_tokens": 3}}),
    ],
)
def test_a_tool_call_a_finish_reason_or_the_usage_is_more_than_text(extra: StreamEntry) -> None:
    assert delivered_since_reset([_chunk(1, content="Hi"), extra]).more_than_text


def test_an_empty_stream_starts_fresh() -> None:
    assert plan_resume(Delivered(), [CUT], prefill=True).kind == "fresh"


def test_text_left_by_a_broken_stream_is_continued_on_a_prefill_target_naming_the_fault() -> None:
    resume = plan_resume(Delivered("Once upon", 3), [CUT], prefill=True)

    assert (resume.kind, resume.text) == ("prefill", "Once upon")
    assert (resume.error_class, resume.message) == (CUT.error_class, CUT.error_message)


def test_without_prefill_the_answer_restarts_with_a_reset_naming_the_original_fault() -> None:
    resume = plan_resume(Delivered("Once upon", 3), [CUT], prefill=False)

    assert (resume.kind, resume.error_class) == ("restart", "ProviderConnectionError")


def test_a_whole_answer_that_failed_the_schema_is_restarted_never_continued() -> None:
    invalid = CUT.model_copy(update={"error_class": "AnswerInvalid"})
    resume = plan_resume(Delivered('{"a": 1}', 4, more_than_text=True), [invalid], prefill=True)

    assert (resume.kind, resume.error_class) == ("restart", "AttemptSuperseded")


def test_the_prefill_is_the_text_without_trailing_whitespace_as_a_final_assistant_turn() -> None:
    request = prefill_request(_request(), "Once upon \n")

    last = request.messages[-1]
    assert (last.role, last.content) == ("assistant", "Once upon")
    assert len(request.messages) == 2


@pytest.mark.parametrize(
    ("fields", "wire_format", "prefill", "expected"),
    [
        ({}, "anthropic", True, True),
        ({}, "anthropic", False, False),
        ({}, "openai", True, False),
        ({"n": 2}, "anthropic", True, False),
        ({"reasoning_effort": "high"}, "anthropic", True, False),
        ({"response_format": {"type": "json_object"}}, "anthropic", True, False),
    ],
)
def test_a_prefill_needs_the_capability_a_format_that_has_it_and_a_plain_text_request(
    fields: dict[str, Any], wire_format: str, prefill: bool, expected: bool
) -> None:
    assert can_prefill(_request(**fields), _model(prefill), wire_format) is expected
