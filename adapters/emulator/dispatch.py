"""Which wire format answers a path: a table of path patterns, tried in order.

The path matched is what follows the provider segment (``/openai/v1/chat/completions`` ->
``/v1/chat/completions``). Named groups of a pattern become path parameters (Azure's deployment
is the model). A new wire format is one more row, e.g.
``WireRoute(re.compile(r"/v1/messages$"), AnthropicWire())``. A route with ``stream`` set always
answers as a stream (Gemini's ``:streamGenerateContent``); the others stream when the body asks.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from adapters.emulator.anthropic_wire import AnthropicWire
from adapters.emulator.cohere_wire import CohereWire
from adapters.emulator.gemini_wire import GeminiWire
from adapters.emulator.openai_wire import OpenAIWire
from adapters.emulator.wire import WireFormat

__all__ = ["DEFAULT_ROUTES", "WireRoute", "match_route"]


@dataclass(frozen=True, slots=True)
class WireRoute:
    """A path pattern (searched in the path after the provider segment) and its format."""

    pattern: re.Pattern[str]
    wire: WireFormat
    stream: bool = False


DEFAULT_ROUTES: tuple[WireRoute, ...] = (
    # Azure classic: /openai/deployments/{deployment}/chat/completions?api-version=...
    WireRoute(
        re.compile(r"^/openai/deployments/(?P<model>[^/]+)/chat/completions$"),
        OpenAIWire(azure=True),
    ),
    # Azure v1 API: /openai/v1/chat/completions, api-key header, model in the body (Groq's
    # /openai/v1 prefix lands here too, which only adds api-key to the keys it accepts)
    WireRoute(re.compile(r"^/openai/v1/chat/completions$"), OpenAIWire(azure=True)),
    # Anthropic Messages: /{provider}/v1/messages
    WireRoute(re.compile(r"/v1/messages$"), AnthropicWire()),
    # OpenAI and every OpenAI-compatible vendor, whatever the prefix
    WireRoute(re.compile(r"/chat/completions$"), OpenAIWire()),
    # Gemini generateContent: /v1beta/models/{model}:generateContent
    WireRoute(re.compile(r"/v1beta/models/(?P<model>[^/:]+):generateContent$"), GeminiWire()),
    # Gemini streamGenerateContent (?alt=sse): the same body, the answer as SSE events
    WireRoute(
        re.compile(r"/v1beta/models/(?P<model>[^/:]+):streamGenerateContent$"),
        GeminiWire(),
        stream=True,
    ),
    # Cohere Chat v2: /{provider}/v2/chat
    WireRoute(re.compile(r"/v2/chat$"), CohereWire()),
)


def match_route(routes: Sequence[WireRoute], path: str) -> tuple[WireRoute, dict[str, str]] | None:
    """The route for ``path`` and its path parameters, or None when none serves it."""
    for route in routes:
        found = route.pattern.search(path)
        if found is not None:
            return route, {k: v for k, v in found.groupdict().items() if v is not None}
    return None
