"""Shared request builders for the emulator tests."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.testclient import TestClient

if TYPE_CHECKING:
    # starlette's TestClient is built on httpx2 (it falls back to httpx when httpx2 is missing)
    from httpx2 import Response

__all__ = ["AUTH", "CHAT_PATH", "WEATHER_TOOL", "chat", "chat_body", "set_rules"]

AUTH = {"Authorization": "Bearer sk-test"}
CHAT_PATH = "/openai/v1/chat/completions"
# an OpenAI-shaped tool, as the OpenAI and Cohere wires both take it
WEATHER_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


def chat_body(text: str = "What is the capital of France?", **extra: Any) -> dict[str, Any]:
    """A minimal valid chat-completions body for model gpt-5.4."""
    return {"model": "gpt-5.4", "messages": [{"role": "user", "content": text}], **extra}


def chat(
    client: TestClient,
    body: dict[str, Any] | None = None,
    *,
    path: str = CHAT_PATH,
    job_id: str | None = None,
) -> Response:
    """POST ``body`` (default ``chat_body()``) to ``path`` with a valid key."""
    headers = dict(AUTH)
    if job_id is not None:
        headers["X-Cascade-Job-Id"] = job_id
    return client.post(path, json=body if body is not None else chat_body(), headers=headers)


def set_rules(client: TestClient, *rules: dict[str, Any]) -> None:
    """Replace the emulator's fault rules, failing the test if they do not validate."""
    response = client.post("/_emulator/faults", json={"rules": list(rules)})
    assert response.status_code == 200, response.text
