"""What every wire-format adapter provides, and the data that crosses between it and the worker.

An adapter is pure: it turns a cascade request into an HTTP request description, an HTTP
response into a chat.completion, and an error response into a ``ProviderError``. It opens no
connection and imports neither Celery nor Redis; the worker does the I/O. Each adapter's
streaming counterpart (the streaming request and an incremental parser of its event stream)
is in ``adapters/streams``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from adapters.errors import ProviderError
from broker.jobs import Choice, CompletionRequest, Usage

__all__ = ["Adapter", "AdapterTarget", "HttpCall", "ParsedResponse"]


@dataclass(frozen=True, slots=True)
class AdapterTarget:
    """Where a call goes: the provider's base URL and its own id for the model."""

    provider: str
    base_url: str
    model_id: str
    # provider-specific settings from the catalog (api_version for Azure, for one)
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class HttpCall:
    """One HTTP request to make. ``headers`` hold the API key: never log them."""

    method: str
    url: str
    headers: Mapping[str, str]
    json: Mapping[str, Any]
    params: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ParsedResponse:
    """A provider's answer in OpenAI's chat.completion terms."""

    id: str
    model: str
    created: int
    choices: list[Choice]
    usage: Usage
    system_fingerprint: str | None = None


class Adapter(Protocol):
    """One wire format. ``name`` is what the catalog's ``wire_format`` says."""

    name: str

    def build_request(
        self, request: CompletionRequest, target: AdapterTarget, api_key: str
    ) -> HttpCall:
        """The HTTP call for ``request``; raises InvalidRequest for what the format cannot carry."""
        ...

    def parse_response(
        self, status_code: int, headers: Mapping[str, str], body: bytes, target: AdapterTarget
    ) -> ParsedResponse:
        """The answer of a 2xx response; raises a ProviderError when the body says it failed."""
        ...

    def classify_error(
        self, status_code: int, headers: Mapping[str, str], body: bytes
    ) -> ProviderError:
        """The ProviderError for a non-2xx response (returned, not raised)."""
        ...
