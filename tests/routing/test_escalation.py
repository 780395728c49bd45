"""Escalation before a job runs (tier rules) and after a wrong answer (JSON schema check)."""

from __future__ import annotations

from typing import Any

from broker.jobs import TargetRef
from routing.escalation import check_answer, escalate, next_tier_hop
from tests.routing.factories import catalog, catalog_data, job

SCHEMA_FORMAT = {
    "type": "json_schema",
    "json_schema": {
        "name": "person",
        "schema": {
            "type": "object",
            "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
            "required": ["name", "age"],
        },
    },
}
TOOL = {"type": "function", "function": {"name": "lookup"}}
IMAGE = {"type": "image_url", "image_url": {"url": "https://img.example/cat.png"}}


def _escalating(**rule: Any) -> Any:
    data = catalog_data()
    data["tiers"]["fast"]["escalate_to"] = "smart"
    data["tiers"]["fast"]["escalate_when"] = rule
    return catalog(data)


def test_a_tier_without_escalate_to_never_escalates() -> None:
    assert escalate(catalog(), "fast", job(needs={"tier": "fast",
                                                  "complexity_hint": "complex"}), 10) == (
        "fast", ())


def test_a_prompt_over_the_rules_threshold_goes_up_a_tier_with_the_reason() -> None:
    tier, notes = escalate(_escalating(prompt_tokens_over=1000), "fast", job(), 1500)
    assert tier == "smart"
    assert notes == ("escalated from tier fast to smart: prompt ~1,500 tokens > 1,000",)


def test_a_prompt_at_the_threshold_stays() -> None:
    assert escalate(_escalating(prompt_tokens_over=1000), "fast", job(), 1000)[0] == "fast"


def test_tools_and_images_escalate_only_when_the_rule_names_them() -> None:
    with_tools = job(tools=[TOOL])
    with_image = job(messages=[{"role": "user", "content": [IMAGE]}])
    assert escalate(_escalating(tools=True), "fast", with_tools, 10)[0] == "smart"
    assert escalate(_escalating(), "fast", with_tools, 10)[0] == "fast"
    assert escalate(_escalating(images=True), "fast", with_image, 10)[0] == "smart"
    assert escalate(_escalating(tools=True), "fast", with_image, 10)[0] == "fast"


def test_a_complex_hint_escalates_and_a_simple_hint_holds_the_job_on_its_tier() -> None:
    rules = _escalating(prompt_tokens_over=10)
    complex_job = job(needs={"tier": "fast", "complexity_hint": "complex"})
    simple_job = job(needs={"tier": "fast", "complexity_hint": "simple"})
    assert escalate(rules, "fast", complex_job, 1)[0] == "smart"
    assert escalate(rules, "fast", simple_job, 5000)[0] == "fast"


def test_a_rule_that_ignores_hints_escalates_a_simple_job_by_size() -> None:
    rules = _escalating(prompt_tokens_over=10, hint=False)
    simple_job = job(needs={"tier": "fast", "complexity_hint": "simple"})
    assert escalate(rules, "fast", simple_job, 5000)[0] == "smart"


def test_escalation_follows_the_reached_tiers_rule_and_never_loops() -> None:
    data = catalog_data()
    data["tiers"]["fast"].update(escalate_to="smart", escalate_when={"prompt_tokens_over": 0})
    data["tiers"]["smart"].update(escalate_to="fast", escalate_when={"prompt_tokens_over": 0})
    tier, notes = escalate(catalog(data), "fast", job(), 100)
    assert tier == "smart"
    assert len(notes) == 1


def test_an_answer_is_not_checked_unless_the_job_asks() -> None:
    assert check_answer("not json", job(response_format=SCHEMA_FORMAT)).ok


def _validating() -> Any:
    return job(needs={"tier": "fast", "validate_json_schema": True}, response_format=SCHEMA_FORMAT)


def test_an_answer_that_matches_the_schema_is_ok() -> None:
    assert check_answer('{"name": "Ada", "age": 36}', _validating()).ok


def test_an_answer_missing_a_required_field_escalates_with_the_schema_error() -> None:
    verdict = check_answer('{"name": "Ada"}', _validating())
    assert not verdict.ok
    assert verdict.reason == (
        "the answer does not match the schema at (root): 'age' is a required property"
    )


def test_an_answer_with_a_wrong_type_names_the_field() -> None:
    verdict = check_answer('{"name": "Ada", "age": "old"}', _validating())
    assert not verdict.ok
    assert verdict.reason is not None and "at age: 'old' is not of type 'integer'" in verdict.reason


def test_an_answer_that_is_not_json_or_empty_escalates() -> None:
    assert not check_answer("Sure! Here it is", _validating()).ok
    assert not check_answer(None, _validating()).ok


def test_json_object_mode_only_needs_the_answer_to_parse() -> None:
    checked = job(needs={"tier": "fast", "validate_json_schema": True},
                  response_format={"type": "json_object"})
    assert check_answer('{"anything": 1}', checked).ok
    assert not check_answer("{oops", checked).ok


def _target(model: str, tier: str) -> TargetRef:
    return TargetRef(provider="p", model=model, model_id=model, tier=tier, queue=f"{tier}.p")


def test_the_next_tier_hop_skips_targets_of_the_same_tier() -> None:
    route = [_target("a1", "fast"), _target("b1", "fast"), _target("g1", "smart")]
    assert next_tier_hop(route, 0) == 2
    assert next_tier_hop(route, 1) == 2
    assert next_tier_hop(route, 2) is None
