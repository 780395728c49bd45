"""The job and result schemas: what is accepted, and how a refusal names the bad field."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from broker.jobs import (
    Capability,
    CompletionJob,
    CompletionResult,
    FailedResult,
    JobResult,
    format_validation_error,
    required_capabilities,
)

USER = {"role": "user", "content": "Hello"}


def _job(**request: Any) -> dict[str, Any]:
    return {"needs": {"tier": "standard"}, "request": {"messages": [USER], **request}}


def _refusal(data: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as caught:
        CompletionJob.model_validate(data)
    return format_validation_error(caught.value, data)


def test_a_request_in_the_openai_shape_is_accepted_with_every_documented_field() -> None:
    # Fields and forms from OpenAI's chat-completions reference (openai-openapi spec v2.3.0).
    job = CompletionJob.model_validate(
        _job(
            messages=[
                {"role": "developer", "content": "Be brief."},
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "What is in this image?"},
                        {
                            "type": "image_url",
                            "image_url": {"url": "https://example.com/a.png", "detail": "low"},
                        },
                    ],
                },
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "look", "arguments": '{"x": 1}'},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "call_1", "content": "a cat"},
            ],
            tools=[
                {
                    "type": "function",
                    "function": {
                        "name": "look",
                        "parameters": {"type": "object", "properties": {"x": {"type": "integer"}}},
                    },
                }
            ],
            tool_choice={"type": "function", "function": {"name": "look"}},
            response_format={
                "type": "json_schema",
                "json_schema": {"name": "answer", "schema": {"type": "object"}, "strict": True},
            },
            temperature=0.2,
            top_p=0.9,
            max_tokens=100,
            stop=["\n\n"],
            seed=7,
            n=1,
            user="u-1",
            metadata={"team": "search"},
        )
    )
    assert required_capabilities(job) == {
        Capability.VISION,
        Capability.TOOLS,
        Capability.JSON_SCHEMA,
    }
    assert job.request.response_format is not None
    assert job.request.response_format.model_dump(by_alias=True)["json_schema"]["schema"] == {
        "type": "object"
    }


def test_an_unknown_field_is_refused_with_its_path() -> None:
    assert _refusal(_job(temprature=0.5)) == "request.temprature: unknown field"


def test_a_wrong_type_is_refused_with_its_path_and_no_union_branch_names() -> None:
    message = _refusal(_job(messages=[{"role": "user", "content": 42}]))
    assert message.startswith("request.messages[0].content: Input should be a valid string")


def test_empty_messages_are_refused() -> None:
    assert _refusal(_job(messages=[])).startswith("request.messages: List should have at least 1")


def test_a_missing_field_is_named() -> None:
    message = _refusal(_job(messages=[{"role": "tool", "content": "42"}]))
    assert message == "request.messages[0].tool_call_id: Field required"


def test_an_unknown_role_is_refused_naming_the_message() -> None:
    assert _refusal(_job(messages=[{"role": "wizard", "content": "hi"}])).startswith(
        "request.messages[0]: Input tag 'wizard'"
    )


def test_routing_needs_take_exactly_one_of_tier_and_model() -> None:
    data = _job()
    data["needs"] = {"tier": "standard", "model": "gpt"}
    assert "give exactly one of 'tier' and 'model'" in _refusal(data)


def test_a_named_tool_choice_must_name_a_given_tool() -> None:
    message = _refusal(
        _job(
            tools=[{"type": "function", "function": {"name": "a"}}],
            tool_choice={"type": "function", "function": {"name": "b"}},
        )
    )
    assert "tool_choice names 'b'" in message


@pytest.mark.parametrize(
    ("field", "value"), [("temperature", 2.5), ("top_p", -0.1), ("n", 0), ("max_tokens", 0)]
)
def test_numbers_outside_the_documented_ranges_are_refused(field: str, value: float) -> None:
    assert _refusal(_job(**{field: value})).startswith(f"request.{field}:")


def test_image_urls_must_be_http_or_data_urls() -> None:
    message = _refusal(
        _job(
            messages=[
                {
                    "role": "user",
                    "content": [{"type": "image_url", "image_url": {"url": "file:///etc/passwd"}}],
                }
            ]
        )
    )
    assert message.startswith("request.messages[0].content[0].image_url.url:")


def test_a_deadline_without_a_time_zone_is_refused() -> None:
    data = _job()
    data["envelope"] = {"deadline": "2026-01-01T00:00:00"}
    assert _refusal(data).startswith("envelope.deadline:")


def test_results_round_trip_through_json_by_their_status() -> None:
    from pydantic import TypeAdapter

    adapter: TypeAdapter[CompletionResult | FailedResult] = TypeAdapter(JobResult)
    failed = FailedResult(
        job_id="j",
        error_class="ServerError",
        error_message="down",
        attempts=[],
        finished_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    assert adapter.validate_json(failed.model_dump_json()) == failed
