"""The emulator's answers as the official OpenAI Python SDK (openai-python) reads them."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from tests.adapters.emulator.helpers import WEATHER_TOOL, chat, chat_body, set_rules

openai = pytest.importorskip("openai")


def test_success_body_validates_as_the_sdk_chat_completion(client: TestClient) -> None:
    from openai.types.chat import ChatCompletion

    for body in (chat_body(), chat_body(tools=[WEATHER_TOOL]), chat_body(max_tokens=1, n=2)):
        completion = ChatCompletion.model_validate(chat(client, body).json())
        assert completion.object == "chat.completion"
        assert completion.usage is not None and completion.usage.total_tokens > 0


def test_sdk_client_gets_answers_and_maps_emulated_errors(client: TestClient) -> None:
    """openai-python ``_client.py`` maps 401 to AuthenticationError and 429 to RateLimitError."""
    sdk = openai.OpenAI(
        api_key="sk-test",
        base_url="http://testserver/openai/v1",
        http_client=client,
        max_retries=0,
    )
    completion = sdk.chat.completions.create(
        model="gpt-5.4", messages=[{"role": "user", "content": "hi"}]
    )
    assert completion.choices[0].message.content is not None
    set_rules(client, {"kind": "rate_limit", "first_n": 1})
    with pytest.raises(openai.RateLimitError) as raised:
        sdk.chat.completions.create(model="gpt-5.4", messages=[{"role": "user", "content": "hi"}])
    assert raised.value.code == "rate_limit_exceeded"


def test_logprobs_when_asked_come_in_openais_shape_and_the_adapter_keeps_them(
    client: TestClient,
) -> None:
    """openai-python ``ChoiceLogprobs``: content[] of token, logprob, bytes, top_logprobs[]."""
    from openai.types.chat import ChatCompletion

    from adapters.base import AdapterTarget
    from adapters.openai_chat import OpenAIChatAdapter

    response = chat(client, chat_body(logprobs=True, top_logprobs=2))
    completion = ChatCompletion.model_validate(response.json())
    logprobs = completion.choices[0].logprobs
    assert logprobs is not None and logprobs.content
    assert len(logprobs.content[0].top_logprobs) == 2
    target = AdapterTarget(provider="openai", base_url="http://e/openai/v1", model_id="gpt-5.4")
    parsed = OpenAIChatAdapter().parse_response(200, {}, response.content, target)
    assert parsed.choices[0].logprobs == response.json()["choices"][0]["logprobs"]
    assert chat(client, chat_body()).json()["choices"][0]["logprobs"] is None
