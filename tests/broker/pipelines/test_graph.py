import pytest

from broker.pipelines.graph import PipelineError, dependencies, named_pipelines, parse_pipeline
from broker.pipelines.spec import PipelineSpec

TIERS = ["fast", "smart"]


def _parse(steps: dict[str, object], **extra: object) -> PipelineSpec:
    return parse_pipeline({"steps": steps, **extra}, tiers=TIERS)


def test_a_triage_pipeline_is_accepted_and_its_output_is_the_last_answer() -> None:
    spec = parse_pipeline(
        {
            "steps": {
                "classify": {"tier": "fast", "prompt": "{{ input.question }}"},
                "answer": {
                    "tier_from": {
                        "step": "classify",
                        "field": "label",
                        "tiers": {"simple": "fast", "complex": "smart"},
                    },
                    "prompt": "{{ input.question }}",
                },
            }
        },
        tiers=TIERS,
    )
    assert spec.output_step == "answer"
    assert dependencies(spec)["answer"] == {"classify"}


def test_an_unknown_step_reference_is_named_by_its_field_path() -> None:
    with pytest.raises(PipelineError) as caught:
        _parse({"a": {"tier": "fast", "prompt": "x", "after": ["nope"]}})
    assert "steps.a.after[0]: no step named 'nope'" in str(caught.value)


def test_a_template_reading_an_unknown_step_is_refused() -> None:
    with pytest.raises(PipelineError) as caught:
        _parse({"a": {"tier": "fast", "prompt": "{{ steps.ghost.text }}"}})
    assert "steps.a.prompt: reads steps.ghost" in str(caught.value)


def test_a_placeholder_naming_nothing_is_refused() -> None:
    with pytest.raises(PipelineError) as caught:
        _parse({"a": {"tier": "fast", "prompt": "{{ secrets }}"}})
    assert "steps.a.prompt: {{ secrets }} names nothing" in str(caught.value)


def test_a_cycle_is_refused() -> None:
    with pytest.raises(PipelineError) as caught:
        _parse(
            {
                "a": {"tier": "fast", "prompt": "{{ steps.b.text }}"},
                "b": {"tier": "fast", "prompt": "{{ steps.a.text }}"},
            }
        )
    assert "cycle" in str(caught.value)


def test_an_unknown_tier_is_named_with_the_known_ones() -> None:
    with pytest.raises(PipelineError) as caught:
        _parse({"a": {"tier": "huge", "prompt": "x", "escalate": ["giant"]}})
    text = str(caught.value)
    assert "steps.a.tier: no tier named 'huge' (tiers: fast, smart)" in text
    assert "steps.a.escalate[0]: no tier named 'giant'" in text


def test_a_step_needs_exactly_one_route() -> None:
    with pytest.raises(PipelineError) as caught:
        _parse({"a": {"tier": "fast", "model": "a1", "prompt": "x"}})
    assert "steps.a" in str(caught.value) and "exactly one of" in str(caught.value)


def test_rounds_are_bounded() -> None:
    with pytest.raises(PipelineError) as caught:
        _parse({"a": {"tier": "fast", "prompt": "x"}}, max_rounds=50)
    assert "max_rounds" in str(caught.value)


def test_a_step_name_that_would_break_a_job_id_is_refused() -> None:
    with pytest.raises(PipelineError) as caught:
        _parse({"a.b": {"tier": "fast", "prompt": "x"}})
    assert "step name must be" in str(caught.value)


def test_a_reader_of_a_validated_step_waits_for_its_validator() -> None:
    spec = _parse(
        {
            "answer": {"tier": "fast", "prompt": "x"},
            "check": {"tier": "fast", "validates": "answer", "prompt": "{{ steps.answer.text }}"},
            "polish": {"tier": "fast", "prompt": "{{ steps.answer.text }}"},
        }
    )
    assert dependencies(spec)["polish"] == {"answer", "check"}


def test_catalog_pipelines_are_named_by_their_key_in_errors() -> None:
    with pytest.raises(PipelineError) as caught:
        named_pipelines({"triage": {"steps": {"a": {"tier": "fast"}}}}, TIERS)
    assert "pipelines.triage.steps.a.prompt: Field required" in str(caught.value)


def test_the_output_is_the_graphs_end_whatever_order_the_steps_are_written_in() -> None:
    spec = _parse(
        {
            "answer": {"tier": "fast", "prompt": "{{ steps.classify.output.label }}"},
            "classify": {"tier": "fast", "prompt": "x"},
        }
    )
    assert spec.output_step == "answer"
