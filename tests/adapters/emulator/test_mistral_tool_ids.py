"""The emulator refuses, as Mistral does, tool-call ids that are not 9 alphanumerics
(provider-formats.md §8.3), so that a reroute test catches a missing id rewrite."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.adapters.emulator.helpers import chat, chat_body

MISTRAL_PATH = "/mistral/v1/chat/completions"


def _history(call_id: str) -> dict[str, Any]:
    return chat_body(messages=[
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": call_id, "type": "function",
             "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]},
        {"role": "tool", "tool_call_id": call_id, "content": "18C"},
    ])


@pytest.mark.parametrize("call_id", ["toolu_01A09q90qw90lq917835lq9", "call_abc123", "abc12345"])
def test_mistral_refuses_a_foreign_tool_call_id(client: TestClient, call_id: str) -> None:
    response = chat(client, _history(call_id), path=MISTRAL_PATH)
    assert response.status_code == 400
    assert call_id in response.json()["error"]["message"]


def test_mistral_accepts_nine_alphanumerics(client: TestClient) -> None:
    assert chat(client, _history("D681PevKs"), path=MISTRAL_PATH).status_code == 200


def test_other_openai_compatible_providers_accept_any_id(client: TestClient) -> None:
    assert chat(client, _history("toolu_01A09q90qw90lq917835lq9")).status_code == 200
