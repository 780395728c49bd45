"""Streamed calls to the emulator in every wire format, built by cascade's own stream formats,
and the plain call each one mirrors."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from adapters.base import AdapterTarget, HttpCall, ParsedResponse
from adapters.registry import get_adapter
from adapters.streams import get_stream_format
from broker.jobs import CompletionRequest

__all__ = ["FORMATS", "StreamCase", "WEATHER", "ask"]

WEATHER: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
            "required": ["city", "days"],
        },
    },
}


def ask(text: str = "What is the capital of France?", *, tools: bool = False) -> CompletionRequest:
    body: dict[str, Any] = {"messages": [{"role": "user", "content": text}]}
    if tools:
        body |= {"tools": [WEATHER], "tool_choice": "required"}
    return CompletionRequest.model_validate(body)


@dataclass(frozen=True)
class StreamCase:
    """One wire format as the emulator serves it at ``/{provider}``."""

    wire_format: str
    provider: str
    model: str
    prefix: str = ""  # what the catalog's base_url adds after the provider segment

    def target(self, base_url: str) -> AdapterTarget:
        url = f"{base_url.rstrip('/')}/{self.provider}{self.prefix}"
        return AdapterTarget(self.provider, url, self.model, {"api_version": "2024-10-21"})

    def stream_call(self, base_url: str, request: CompletionRequest) -> HttpCall:
        return get_stream_format(self.wire_format).build_stream_request(
            request, self.target(base_url), "sk-test"
        )

    def plain_call(self, base_url: str, request: CompletionRequest) -> HttpCall:
        return get_adapter(self.wire_format).build_request(
            request, self.target(base_url), "sk-test"
        )

    def parse_plain(self, base_url: str, status: int, headers: Any, body: bytes) -> ParsedResponse:
        adapter = get_adapter(self.wire_format)
        return adapter.parse_response(status, headers, body, self.target(base_url))


FORMATS = (
    StreamCase("openai", "openai", "gpt-5.4", "/v1"),
    StreamCase("azure", "azure", "gpt-5.4"),
    StreamCase("mistral", "mistral", "mistral-large-latest", "/v1"),
    StreamCase("anthropic", "anthropic", "claude-sonnet-4-5"),
    StreamCase("gemini", "gemini", "gemini-2.5-flash"),
    StreamCase("cohere", "cohere", "command-a-03-2025"),
)
