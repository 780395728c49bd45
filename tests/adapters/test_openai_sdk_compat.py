"""The sample bodies the adapter tests use are valid for OpenAI's own SDK types.

openai-python's generated ``ChatCompletion`` model is the published schema in code; if a sample
drifts from it, the tests built on it prove less. Skipped when the SDK is not installed.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.adapters import openai_samples as samples

openai_chat = pytest.importorskip("openai.types.chat")


@pytest.mark.parametrize("name", sorted(samples.SUCCESS_BODIES))
def test_sample_success_body_validates_as_an_sdk_chat_completion(name: str) -> None:
    document: dict[str, Any] = samples.SUCCESS_BODIES[name]
    completion = openai_chat.ChatCompletion.model_validate(document)
    assert completion.object == "chat.completion"
    assert completion.choices[0].finish_reason == document["choices"][0]["finish_reason"]
