"""Deterministic reply content and the documented token estimate."""

from __future__ import annotations

import json

from adapters.emulator.content import (
    Message,
    Prompt,
    ToolSpec,
    continue_text,
    estimate_tokens,
    fill_schema,
    make_reply,
    prompt_tokens,
)


def _prompt(*messages: Message, **options: object) -> Prompt:
    return Prompt(provider="openai", model="gpt-5.4", messages=messages, **options)  # type: ignore[arg-type]


USER = Message(role="user", text="Tell me about rivers.")


def test_same_prompt_gives_the_same_reply_and_another_question_a_different_one() -> None:
    first = make_reply(_prompt(USER))
    assert first == make_reply(_prompt(USER))
    other = make_reply(_prompt(Message(role="user", text="Tell me about lakes.")))
    assert other.choices[0].text != first.choices[0].text
    assert other.digest != first.digest


def test_reply_text_names_provider_and_model() -> None:
    text = make_reply(_prompt(USER)).choices[0].text
    assert text is not None and text.startswith("[openai/gpt-5.4] ")


def test_token_estimate_is_a_quarter_of_the_characters_rounded_up_plus_overheads() -> None:
    assert estimate_tokens("") == 0
    assert estimate_tokens("abcd") == 1
    assert estimate_tokens("abcde") == 2
    system = Message(role="system", text="x" * 10)
    image = Message(role="user", text="", images=2)
    assert prompt_tokens([system, image]) == 3 + (4 + 3) + (4 + 0 + 2 * 85)


def test_max_tokens_cuts_the_reply_and_finishes_with_length() -> None:
    choice = make_reply(_prompt(USER, max_tokens=3)).choices[0]
    assert choice.finish_reason == "length"
    assert choice.completion_tokens == 3
    assert choice.text is not None and len(choice.text) == 12


def test_n_gives_n_distinct_choices() -> None:
    reply = make_reply(_prompt(USER, n=3))
    assert [c.index for c in reply.choices] == [0, 1, 2]
    assert len({c.text for c in reply.choices}) == 3
    assert reply.completion_tokens == sum(c.completion_tokens for c in reply.choices)


WEATHER = ToolSpec(
    name="get_weather",
    parameters={
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            "days": {"type": "integer"},
            "verbose": {"type": "boolean"},
        },
        "required": ["city", "unit", "days"],
    },
)


def test_user_turn_with_tools_calls_the_first_tool_with_its_required_arguments() -> None:
    choice = make_reply(_prompt(USER, tools=(WEATHER,))).choices[0]
    assert choice.finish_reason == "tool_calls" and choice.text is None
    (call,) = choice.tool_calls
    assert call.name == "get_weather" and call.id.startswith("call_")
    arguments = json.loads(call.arguments)
    assert set(arguments) == {"city", "unit", "days"}
    assert isinstance(arguments["city"], str) and arguments["unit"] == "celsius"
    assert isinstance(arguments["days"], int)


def test_tool_result_turn_gets_a_text_answer_that_quotes_the_result() -> None:
    tool_turn = Message(role="tool", text='{"temperature": 21}')
    choice = make_reply(_prompt(USER, tool_turn, tools=(WEATHER,))).choices[0]
    assert choice.finish_reason == "stop" and not choice.tool_calls
    assert choice.text is not None and '{"temperature": 21}' in choice.text


def test_tool_choice_none_answers_in_text_and_a_named_tool_is_the_one_called() -> None:
    other = ToolSpec(name="lookup", parameters={})
    assert make_reply(_prompt(USER, tools=(WEATHER,), tool_choice="none")).choices[0].text
    named = _prompt(USER, tools=(WEATHER, other), tool_choice="function", forced_tool="lookup")
    assert make_reply(named).choices[0].tool_calls[0].name == "lookup"


def test_json_mode_reply_is_a_json_object_filling_the_schema() -> None:
    plain = make_reply(_prompt(USER, json_mode=True)).choices[0].text
    assert plain is not None and isinstance(json.loads(plain), dict)
    schema = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}
    text = make_reply(_prompt(USER, json_mode=True, json_schema=schema)).choices[0].text
    assert text is not None and set(json.loads(text)) == {"name"}


def test_fill_schema_is_deterministic_and_ignores_optional_properties() -> None:
    assert fill_schema(WEATHER.parameters, "seed") == fill_schema(WEATHER.parameters, "seed")
    assert "verbose" not in fill_schema(WEATHER.parameters, "seed")
    assert fill_schema({}, "seed") == {}


def test_a_prefill_from_another_model_is_continued_with_the_words_after_as_many_of_its_own() -> (
    None
):
    assert continue_text("[b] one two three four", "[b] one two") == " three four"
    assert continue_text("[b] one two three four", "[a] uno dos") == " three four"
    assert continue_text("[b] one", "[a] uno dos tres") == "."
