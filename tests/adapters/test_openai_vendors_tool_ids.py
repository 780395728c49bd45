"""adapters.tool_ids: foreign tool-call ids rewritten deterministically and consistently."""

from __future__ import annotations

import re
from typing import Any

from adapters.tool_ids import (
    ANTHROPIC_TOOL_IDS,
    MISTRAL_TOOL_IDS,
    ToolIdFormat,
    conform_tool_call_ids,
)

MISTRAL_ID = re.compile(r"^[A-Za-z0-9]{9}$")


def test_openai_and_anthropic_ids_become_nine_alphanumerics_for_mistral() -> None:
    """Mistral's 400: "Tool call id was call_0fypS1hVX but must be a-z, A-Z, 0-9, with a
    length of 9." (langchain-ai/langchain#24668)."""
    for foreign in ("call_0fypS1hVX", "toolu_01A09q90qw90lq917835lq9", "abc123", "x" * 40):
        assert MISTRAL_ID.match(MISTRAL_TOOL_IDS.conform(foreign))


def test_the_rewrite_is_deterministic_and_keeps_accepted_ids() -> None:
    assert MISTRAL_TOOL_IDS.conform("call_abc") == MISTRAL_TOOL_IDS.conform("call_abc")
    assert MISTRAL_TOOL_IDS.conform("call_abc") != MISTRAL_TOOL_IDS.conform("call_abd")
    assert MISTRAL_TOOL_IDS.conform("D681PevKs") == "D681PevKs"


def test_anthropic_format_keeps_its_own_ids_and_mints_toolu_ones() -> None:
    assert ANTHROPIC_TOOL_IDS.conform("call_abc123") == "call_abc123"
    minted = ANTHROPIC_TOOL_IDS.conform("call:abc/123")
    assert re.fullmatch(r"toolu_[A-Za-z0-9]{24}", minted)


def test_assistant_calls_and_tool_results_are_rewritten_to_the_same_ids() -> None:
    messages: list[dict[str, Any]] = [
        {"role": "user", "content": "weather?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}},
                {"id": "toolu_2", "type": "function", "function": {"name": "g", "arguments": "{}"}},
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
        {"role": "tool", "tool_call_id": "toolu_2", "content": "windy"},
    ]
    rewritten = conform_tool_call_ids(messages, MISTRAL_TOOL_IDS)
    call_ids = [call["id"] for call in rewritten[1]["tool_calls"]]
    assert call_ids == [rewritten[2]["tool_call_id"], rewritten[3]["tool_call_id"]]
    assert all(MISTRAL_ID.match(call_id) for call_id in call_ids)
    assert messages[2]["tool_call_id"] == "call_1"  # the input is not modified
    assert rewritten[0] == messages[0]


def test_a_custom_format_uses_its_prefix_alphabet_and_length() -> None:
    hex_ids = ToolIdFormat(
        pattern=r"id-[0-9a-f]{6}", length=6, alphabet="0123456789abcdef", prefix="id-"
    )
    assert re.fullmatch(r"id-[0-9a-f]{6}", hex_ids.conform("call_xyz"))
