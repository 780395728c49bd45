"""Results as an OpenAI SDK reads them: usage in OpenAI's nested shape beside cascade's own."""

from __future__ import annotations

from openai.types import CompletionUsage

from broker.jobs import Usage


def test_usage_carries_openai_nested_details_that_the_sdk_reads() -> None:
    usage = Usage(
        prompt_tokens=100,
        completion_tokens=70,
        total_tokens=170,
        cached_tokens=60,
        reasoning_tokens=50,
    )
    read = CompletionUsage.model_validate(usage.model_dump(mode="json"))
    assert read.prompt_tokens_details is not None
    assert read.prompt_tokens_details.cached_tokens == 60
    assert read.completion_tokens_details is not None
    assert read.completion_tokens_details.reasoning_tokens == 50


def test_stored_usage_reads_back_with_details_that_follow_the_flat_fields() -> None:
    stored = Usage(prompt_tokens=5, cached_tokens=2).model_dump(mode="json")
    stored["cached_tokens"] = 3  # the flat field is the truth; the nested one follows it
    again = Usage.model_validate(stored)
    assert again.prompt_tokens_details.cached_tokens == 3


def test_usage_stored_before_the_nested_fields_still_reads() -> None:
    old = {
        "prompt_tokens": 5,
        "completion_tokens": 1,
        "total_tokens": 6,
        "cached_tokens": 0,
        "reasoning_tokens": 1,
    }
    assert Usage.model_validate(old).completion_tokens_details.reasoning_tokens == 1
