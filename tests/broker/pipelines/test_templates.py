import pytest

from broker.pipelines.templates import TemplateError, render, step_references


def test_input_and_earlier_outputs_are_rendered() -> None:
    values = {
        "input": {"question": "why?"},
        "steps": {"classify": {"output": {"label": "complex"}, "text": "{}"}},
    }
    text = render("Q: {{ input.question }} ({{steps.classify.output.label}})", values)
    assert text == "Q: why? (complex)"


def test_a_value_that_is_not_text_is_written_as_json() -> None:
    assert render("{{ input }}", {"input": {"a": [1, 2]}}) == '{"a": [1, 2]}'


def test_a_missing_value_is_named() -> None:
    with pytest.raises(TemplateError) as caught:
        render("{{ input.topic }}", {"input": {}})
    assert "{{ input.topic }}: no 'topic'" in str(caught.value)


def test_the_steps_a_template_reads_are_found() -> None:
    template = "{{ steps.a.text }} {{ steps.b.output.x }} {{ input }} {{ feedback }}"
    assert step_references(template) == {"a", "b"}
