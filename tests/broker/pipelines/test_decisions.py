import json
from typing import Any

from broker.pipelines.decisions import decide
from broker.pipelines.graph import parse_pipeline
from broker.pipelines.records import StepRun
from broker.pipelines.settle import budget_left
from broker.pipelines.spec import PipelineSpec

LABEL = {
    "type": "object",
    "properties": {"label": {"type": "string", "enum": ["simple", "complex"]}},
    "required": ["label"],
}
TRIAGE = {
    "steps": {
        "classify": {"tier": "fast", "prompt": "{{ input.question }}", "output_schema": LABEL},
        "answer": {
            "tier_from": {
                "step": "classify",
                "field": "label",
                "tiers": {"simple": "fast", "complex": "smart"},
            },
            "prompt": "Answer: {{ input.question }}",
        },
    }
}
VALIDATED = {
    "max_rounds": 3,
    "steps": {
        "answer": {
            "tier": "fast",
            "escalate": ["smart"],
            "prompt": "{{ input.question }} {{ feedback }}",
        },
        "check": {"tier": "fast", "validates": "answer", "prompt": "{{ steps.answer.text }}"},
    },
}


def _spec(data: dict[str, Any]) -> PipelineSpec:
    return parse_pipeline(data, tiers=["fast", "smart"])


def _done(
    step: str, round_: int = 0, output: Any = None, text: str = "ok", **extra: Any
) -> StepRun:
    return StepRun(
        step=step,
        round=round_,
        status="succeeded",
        job_id=f"p.{step}.{round_}",
        tier=extra.pop("tier", "fast"),
        text=text if output is None else json.dumps(output),
        output=output,
        **extra,
    )


def test_the_first_step_is_submitted_alone_with_a_deterministic_job_id() -> None:
    decision = decide("p", _spec(TRIAGE), {"question": "q"}, {})
    assert [(n.step, n.job_id, n.tier) for n in decision.submit] == [
        ("classify", "p.classify.0", "fast")
    ]
    assert decision.submit[0].request["response_format"]["type"] == "json_schema"


def test_the_classification_picks_the_answers_tier() -> None:
    runs = {"classify": [_done("classify", output={"label": "complex"})]}
    decision = decide("p", _spec(TRIAGE), {"question": "q"}, runs)
    assert [(n.step, n.tier) for n in decision.submit] == [("answer", "smart")]
    assert decision.submit[0].request["messages"][0]["content"] == "Answer: q"


def test_a_classification_no_tier_is_given_for_ends_the_pipeline_naming_it() -> None:
    runs = {"classify": [_done("classify", output={"label": "weird"})]}
    decision = decide("p", _spec(TRIAGE), {"question": "q"}, runs)
    assert decision.done is not None and decision.done[0] is False
    assert "'weird'" in (decision.done[1] or "")


def test_the_same_state_always_gives_the_same_decision() -> None:
    runs = {"classify": [_done("classify", output={"label": "simple"})]}
    first = decide("p", _spec(TRIAGE), {"question": "q"}, runs)
    assert first == decide("p", _spec(TRIAGE), {"question": "q"}, runs)


def test_a_failed_verdict_sends_the_step_back_escalated_with_the_feedback() -> None:
    runs = {
        "answer": [_done("answer")],
        "check": [_done("check", output={"verdict": "fail", "feedback": "too short"})],
    }
    decision = decide("p", _spec(VALIDATED), {"question": "q"}, runs)
    [again] = decision.submit
    assert (again.step, again.round, again.tier, again.job_id) == (
        "answer",
        1,
        "smart",
        "p.answer.1",
    )
    assert again.request["messages"][0]["content"] == "q too short"


def test_a_passing_verdict_on_a_later_round_ends_the_pipeline() -> None:
    runs = {
        "answer": [_done("answer"), _done("answer", 1, tier="smart")],
        "check": [
            _done("check", output={"verdict": "fail", "feedback": "no"}),
            _done("check", 1, output={"verdict": "pass", "feedback": ""}),
        ],
    }
    assert decide("p", _spec(VALIDATED), {"question": "q"}, runs).done == (True, None)


def test_the_validator_judges_each_new_round() -> None:
    runs = {
        "answer": [_done("answer"), _done("answer", 1, tier="smart")],
        "check": [_done("check", output={"verdict": "fail", "feedback": "no"})],
    }
    [judge] = decide("p", _spec(VALIDATED), {"question": "q"}, runs).submit
    assert (judge.step, judge.round, judge.job_id) == ("check", 1, "p.check.1")


def test_rounds_end_at_max_rounds() -> None:
    fail = {"verdict": "fail", "feedback": "still wrong"}
    runs = {
        "answer": [_done("answer", r) for r in range(3)],
        "check": [_done("check", r, output=fail) for r in range(3)],
    }
    done = decide("p", _spec(VALIDATED), {"question": "q"}, runs).done
    assert done is not None and done[0] is False and "all 3 rounds" in (done[1] or "")


def test_an_answer_that_breaks_its_schema_is_sent_back_without_a_validator() -> None:
    spec = _spec(
        {
            "steps": {
                "a": {
                    "tier": "fast",
                    "prompt": "x {{ feedback }}",
                    "output_schema": LABEL,
                    "escalate": ["smart"],
                }
            }
        }
    )
    runs = {"a": [_done("a", text="nope", schema_error="not JSON")]}
    [again] = decide("p", spec, {}, runs).submit
    assert (again.round, again.tier) == (1, "smart") and "not JSON" in str(again.request)


def test_independent_steps_run_in_parallel_and_the_join_waits_for_both() -> None:
    spec = _spec(
        {
            "steps": {
                "a": {"tier": "fast", "prompt": "x"},
                "b": {"tier": "fast", "prompt": "y"},
                "join": {"tier": "smart", "prompt": "{{ steps.a.text }} + {{ steps.b.text }}"},
            }
        }
    )
    assert [n.step for n in decide("p", spec, {}, {}).submit] == ["a", "b"]
    half = {"a": [_done("a", text="A")], "b": [StepRun(step="b", round=0, status="queued")]}
    assert decide("p", spec, {}, half).submit == []
    both = {"a": [_done("a", text="A")], "b": [_done("b", text="B")]}
    [join] = decide("p", spec, {}, both).submit
    assert join.request["messages"][0]["content"] == "A + B"


def test_a_branch_not_taken_is_skipped_and_a_step_after_only_skipped_ones_too() -> None:
    spec = _spec(
        {
            "steps": {
                "classify": {"tier": "fast", "prompt": "x", "output_schema": LABEL},
                "deep": {
                    "tier": "smart",
                    "prompt": "y",
                    "when": {"step": "classify", "field": "label", "in": ["complex"]},
                },
                "after_deep": {"tier": "fast", "prompt": "{{ steps.deep.text }}"},
            },
            "output": "classify",
        }
    )
    runs: dict[str, list[StepRun]] = {"classify": [_done("classify", output={"label": "simple"})]}
    assert decide("p", spec, {}, runs).skip == ["deep"]
    runs["deep"] = [StepRun(step="deep", round=0, status="skipped")]
    assert decide("p", spec, {}, runs).skip == ["after_deep"]


def test_a_failed_step_job_fails_the_pipeline() -> None:
    runs = {"classify": [StepRun(step="classify", round=0, status="failed", error="AuthError")]}
    done = decide("p", _spec(TRIAGE), {}, runs).done
    assert done == (False, "step 'classify' failed: AuthError")


def test_the_budget_left_counts_what_queued_rounds_hold() -> None:
    runs = {
        "a": [_done("a", cost_usd=0.25)],
        "b": [StepRun(step="b", round=0, status="queued", max_cost_usd=0.5)],
    }
    assert budget_left(1.0, runs) == 0.25
    assert budget_left(None, runs) is None


def test_a_validator_named_by_model_is_routed_to_that_model() -> None:
    spec = _spec({"steps": {
        "answer": {"tier": "fast", "prompt": "x"},
        "check": {"model": "g1", "validates": "answer", "prompt": "{{ steps.answer.text }}"},
    }})
    [judge] = decide("p", spec, {}, {"answer": [_done("answer")]}).submit
    assert judge.needs == {"model": "g1"} and judge.tier is None
