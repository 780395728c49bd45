"""Each wire format's parameter table, against its provider's documentation, and the promise
that every documented OpenAI chat-completions parameter is carried, routed around or refused.

The parameter list is openai-python's own (``openai.types.chat.completion_create_params.
CompletionCreateParamsBase`` plus ``stream``), read from the installed SDK so a new parameter
in a new SDK release fails this test until cascade decides what to do with it.
"""

from __future__ import annotations

from typing import Any

import pytest
from openai.types.chat import completion_create_params
from pydantic import ValidationError

from adapters.anthropic.request import request_body as anthropic_body
from adapters.base import AdapterTarget
from adapters.gemini.request import request_body as gemini_body
from adapters.openai_chat import OpenAIChatAdapter
from adapters.parameters import PARAMETER_KINDS, WIRE_PARAMETERS, uncarried
from adapters.registry import WIRE_FORMATS
from broker.jobs import CompletionRequest, format_validation_error

HELLO = [{"role": "user", "content": "hello"}]
WEATHER = {"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}


def _request(**fields: Any) -> CompletionRequest:
    return CompletionRequest.model_validate({"messages": HELLO, **fields})


def _sdk_parameters() -> set[str]:
    return set(completion_create_params.CompletionCreateParamsBase.__annotations__) | {"stream"}


def test_every_documented_parameter_has_a_kind() -> None:
    assert _sdk_parameters() - set(PARAMETER_KINDS) == set()


# a valid value of each parameter, as the SDK types describe it
SAMPLES: dict[str, Any] = {
    "frequency_penalty": 0.5,
    "presence_penalty": -0.5,
    "logit_bias": {"50256": -100},
    "logprobs": True,
    "reasoning_effort": "low",
    "verbosity": "low",
    "web_search_options": {"search_context_size": "low"},
    "moderation": {"model": "omni-moderation-latest"},
    "modalities": ["text"],
    "service_tier": "flex",
    "prediction": {"type": "content", "content": "draft"},
    "prompt_cache_key": "k1",
    "prompt_cache_retention": "24h",
    "prompt_cache_options": {"ttl": "30m"},
    "safety_identifier": "u-hash",
    "stream_options": {"include_usage": True},
    "store": False,
    "temperature": 0.5,
    "top_p": 0.9,
    "stop": ["END"],
    "seed": 1,
    "n": 2,
    "user": "u1",
    "metadata": {"k": "v"},
}
REFUSED_SAMPLES: dict[str, Any] = {
    "audio": {"voice": "alloy", "format": "mp3"},
    "functions": [{"name": "f"}],
    "function_call": "auto",
    "store": True,
    "modalities": ["text", "audio"],
}


@pytest.mark.parametrize(
    "name", sorted(n for n, kind in PARAMETER_KINDS.items() if kind in ("routed", "hint", "unsent"))
)
def test_each_carried_routed_or_unsent_parameter_is_accepted(name: str) -> None:
    fields: dict[str, Any] = {name: SAMPLES[name]} if name != "top_logprobs" else {"logprobs": True}
    if name in ("logprobs", "top_logprobs"):
        fields["top_logprobs"] = 2
    assert getattr(_request(**fields), name) is not None


@pytest.mark.parametrize("name", sorted(REFUSED_SAMPLES))
def test_refused_parameters_are_refused_by_name_with_a_reason(name: str) -> None:
    data = {"messages": HELLO, name: REFUSED_SAMPLES[name]}
    with pytest.raises(ValidationError) as refused:
        CompletionRequest.model_validate(data)
    text = format_validation_error(refused.value, data)
    assert text.startswith(f"{name}")
    assert "unknown field" not in text


def test_top_logprobs_needs_logprobs() -> None:
    with pytest.raises(ValidationError, match="top_logprobs needs logprobs"):
        _request(top_logprobs=3)


def test_every_wire_format_has_a_table_that_names_its_source() -> None:
    assert set(WIRE_FORMATS) <= set(WIRE_PARAMETERS)
    assert all(table.source for table in WIRE_PARAMETERS.values())


# https://docs.claude.com/en/api/messages: no n, seed, penalties, logit_bias, logprobs; temperature
# 0-1; stop_sequences; thinking.
@pytest.mark.parametrize(
    ("fields", "carried"),
    [
        ({"n": 2}, False),
        ({"seed": 1}, False),
        ({"frequency_penalty": 0.1}, False),
        ({"logit_bias": {"1": 1}}, False),
        ({"logprobs": True}, False),
        ({"temperature": 1.5}, False),
        ({"stop": "\n"}, False),
        ({"stop": ["END"]}, True),
        ({"temperature": 0.7, "top_p": 0.9}, True),
        ({"reasoning_effort": "high"}, True),
        ({"reasoning_effort": "high", "temperature": 0.2}, False),
        ({"reasoning_effort": "low", "tools": [WEATHER], "tool_choice": "required"}, False),
        ({"reasoning_effort": "low", "tools": [WEATHER]}, True),
        ({"service_tier": "flex", "prompt_cache_key": "k"}, True),
    ],
)
def test_anthropic_table_follows_the_messages_api(fields: dict[str, Any], carried: bool) -> None:
    assert (uncarried(_request(**fields), "anthropic") == []) is carried


# https://ai.google.dev/api/generate-content#generationconfig: candidateCount, seed,
# presencePenalty, frequencyPenalty, stopSequences, thinkingConfig; no logit bias.
@pytest.mark.parametrize(
    ("fields", "carried"),
    [
        ({"n": 2, "seed": 1, "stop": "\n"}, True),
        ({"frequency_penalty": 0.1, "presence_penalty": 0.2}, True),
        ({"reasoning_effort": "low"}, True),
        ({"logit_bias": {"1": 1}}, False),
        ({"verbosity": "low"}, False),
    ],
)
def test_gemini_table_follows_generation_config(fields: dict[str, Any], carried: bool) -> None:
    assert (uncarried(_request(**fields), "gemini") == []) is carried


def test_shapes_a_format_refuses_are_routed_around_too() -> None:
    named = _request(messages=[{"role": "user", "content": "hi", "name": "ann"}])
    assert uncarried(named, "anthropic") == [
        "anthropic cannot carry messages: messages[0].name: its messages carry no participant name"
    ]
    assert uncarried(named, "groq") != [] and uncarried(named, "openai") == []
    one_call = _request(tools=[WEATHER], parallel_tool_calls=False)
    assert uncarried(one_call, "gemini") != [] and uncarried(one_call, "anthropic") == []
    forced = _request(
        tools=[WEATHER], tool_choice={"type": "function", "function": {"name": "weather"}}
    )
    assert uncarried(forced, "cohere") != [] and uncarried(forced, "gemini") == []


# https://api-docs.deepseek.com/api/create-chat-completion: no n, seed or logit_bias.
def test_deepseek_table_has_no_seed_or_n_but_logprobs() -> None:
    assert uncarried(_request(seed=1), "deepseek") == ["deepseek cannot carry seed"]
    assert uncarried(_request(logprobs=True, top_logprobs=2), "deepseek") == []


def test_openai_carries_every_routed_parameter() -> None:
    fields = {k: v for k, v in SAMPLES.items() if PARAMETER_KINDS[k] == "routed"}
    assert uncarried(_request(**fields, top_logprobs=2), "openai") == []


def test_openai_body_sends_hints_but_never_unsent_fields() -> None:
    target = AdapterTarget(provider="openai", base_url="https://api.openai.com/v1", model_id="m")
    request = _request(
        service_tier="flex",
        stream_options={"include_usage": True},
        store=False,
        modalities=["text"],
        reasoning_effort="low",
        verbosity="low",
    )
    body = OpenAIChatAdapter().build_request(request, target, "k").json
    assert body["service_tier"] == "flex"
    assert body["reasoning_effort"] == "low" and body["verbosity"] == "low"
    assert not {"stream_options", "store", "modalities"} & set(body)


def test_anthropic_adaptive_model_maps_reasoning_effort_to_effort() -> None:
    target = AdapterTarget(provider="anthropic", base_url="https://a", model_id="claude-sonnet-5")
    body = anthropic_body(_request(reasoning_effort="medium"), target)
    assert body["thinking"] == {"type": "adaptive"}
    assert body["output_config"] == {"effort": "medium"}


def test_anthropic_budget_model_gets_a_budget_below_max_tokens() -> None:
    target = AdapterTarget(provider="anthropic", base_url="https://a", model_id="claude-haiku-4-5")
    unbounded = anthropic_body(_request(reasoning_effort="low"), target)
    assert unbounded["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert unbounded["max_tokens"] > 2048
    bounded = anthropic_body(_request(reasoning_effort="high", max_tokens=3000), target)
    assert bounded["thinking"]["budget_tokens"] == 2999 and bounded["max_tokens"] == 3000
    tiny = anthropic_body(_request(reasoning_effort="high", max_tokens=500), target)
    assert "thinking" not in tiny


def test_gemini_maps_effort_to_level_or_budget_and_carries_penalties() -> None:
    request = _request(reasoning_effort="low", presence_penalty=0.5, frequency_penalty=0.25)
    three = gemini_body(request, "gemini-3.1-pro-preview")["generationConfig"]
    assert three["thinkingConfig"] == {"thinkingLevel": "low"}
    assert three["presencePenalty"] == 0.5 and three["frequencyPenalty"] == 0.25
    flash = gemini_body(_request(reasoning_effort="none"), "gemini-2.5-flash")
    assert flash["generationConfig"]["thinkingConfig"] == {"thinkingBudget": 0}
    pro = gemini_body(_request(reasoning_effort="none"), "gemini-2.5-pro")
    assert pro["generationConfig"]["thinkingConfig"] == {"thinkingBudget": 128}
