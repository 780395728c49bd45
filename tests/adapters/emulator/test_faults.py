"""Fault rules as pure functions: matching, deterministic selection, first-rule-wins."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from adapters.emulator.faults import FaultRule, choose_fault, rule_matches, selected


def test_fraction_of_0_3_fails_300_of_1000_calls_and_the_same_calls_every_time() -> None:
    failing = [k for k in range(1, 1001) if selected(k, 0.3)]
    assert 290 <= len(failing) <= 310
    assert failing == [k for k in range(1, 1001) if selected(k, 0.3)]


@pytest.mark.parametrize("fraction", [0.0, 0.01, 0.25, 0.5, 0.75, 0.999, 1.0])
def test_any_window_of_calls_fails_its_fraction_give_or_take_one(fraction: float) -> None:
    for start in (1, 37, 500):
        failures = sum(selected(k, fraction) for k in range(start, start + 200))
        assert abs(failures - 200 * fraction) <= 1


def test_wildcards_match_any_provider_or_model_and_names_match_only_themselves() -> None:
    assert rule_matches(FaultRule(), "openai", "gpt-5.4")
    assert rule_matches(FaultRule(provider="openai"), "openai", "gpt-5.4")
    assert not rule_matches(FaultRule(provider="openai"), "deepseek", "gpt-5.4")
    assert rule_matches(FaultRule(model="gpt-5.4"), "azure", "gpt-5.4")
    assert not rule_matches(FaultRule(provider="openai", model="gpt-5.4"), "openai", "o3")


def test_first_rule_that_fires_wins_and_a_rule_past_its_first_n_lets_the_next_decide() -> None:
    limited = FaultRule(kind="rate_limit", first_n=2)
    overloaded = FaultRule(kind="status", status=503)
    rules = [limited, overloaded]
    assert choose_fault(rules, [1, 1]) is limited
    assert choose_fault(rules, [2, 2]) is limited
    assert choose_fault(rules, [3, 3]) is overloaded


def test_a_rule_that_does_not_match_never_fires() -> None:
    assert choose_fault([FaultRule()], [0]) is None


def test_each_kind_answers_its_default_status() -> None:
    assert FaultRule(kind="status").answer_status == 503
    assert FaultRule(kind="rate_limit").answer_status == 429
    assert FaultRule(kind="timeout").answer_status == 504
    assert FaultRule(kind="status", status=500).answer_status == 500


def test_rule_with_unknown_field_or_out_of_range_fraction_is_refused() -> None:
    with pytest.raises(ValidationError, match="fraction"):
        FaultRule.model_validate({"fraction": 1.5})
    with pytest.raises(ValidationError, match="knd"):
        FaultRule.model_validate({"knd": "status"})
    with pytest.raises(ValidationError, match="rate_limit rule answers 429"):
        FaultRule.model_validate({"kind": "rate_limit", "status": 500})


def test_a_reset_rule_sends_no_status_and_is_no_stream_kind() -> None:
    # a reset comes before any response, so no status; plain and streamed calls alike
    with pytest.raises(ValidationError, match="status: a reset rule sends no status"):
        FaultRule(kind="reset", status=503)
    rule = FaultRule(kind="reset", hang_s=0.5)
    assert rule_matches(rule, "alpha", "m") and rule_matches(rule, "alpha", "m", stream=True)
