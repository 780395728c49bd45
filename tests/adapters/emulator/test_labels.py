from adapters.emulator.content import Message, Prompt, make_reply
from adapters.emulator.labels import pick_label

SCHEMA = {
    "type": "object",
    "properties": {"label": {"type": "string", "enum": ["simple", "complex"]}},
    "required": ["label"],
}


def test_the_value_the_prompt_names_most_often_is_picked() -> None:
    text = "Label simple or complex. Question: a complex, really complex proof"
    assert pick_label(["simple", "complex"], text) == "complex"


def test_a_tie_or_no_mention_keeps_the_first_value() -> None:
    assert pick_label(["simple", "complex"], "simple or complex?") == "simple"
    assert pick_label(["simple", "complex"], "nothing here") == "simple"


def test_only_whole_words_count() -> None:
    assert pick_label(["pass", "fail"], "a passage about failures") == "pass"


def test_a_structured_reply_classifies_by_the_user_message() -> None:
    prompt = Prompt(
        provider="alpha",
        model="m",
        messages=(Message("user", "simple or complex: prove this complex theorem"),),
        json_mode=True,
        json_schema=SCHEMA,
    )
    assert make_reply(prompt).choices[0].text == '{"label": "complex"}'
