"""Google's Gemini ``generateContent`` wire format (the Developer API, not Vertex AI).

``POST {base_url}/v1beta/models/{model}:generateContent`` with the key in ``x-goog-api-key``.
The request is rebuilt from OpenAI's shape (provider-formats.md section 4): system and developer
messages become ``systemInstruction``, turns become ``contents`` with roles ``user``/``model``,
tool calls become ``functionCall`` parts and tool results ``functionResponse`` parts in a ``user``
turn, tools one Tool of ``functionDeclarations``.

Thought signatures (Gemini 3 and 2.5 thinking models, provider-formats.md section 8.2): a
``functionCall`` part may carry an opaque ``thoughtSignature`` that must come back unchanged on
that part in the next request. OpenAI's shape has no slot for it, so the signature rides inside
the tool-call id this adapter generates (``call_<hex>__ts__<base64url>``) and is taken out again
when the conversation returns. A history from another provider has no signature: its first
``functionCall`` of each model turn gets Google's documented placeholder
``skip_thought_signature_validator``
(https://ai.google.dev/gemini-api/docs/thought-signatures, FAQ on transferring history from
other models; the same value is on the Vertex page
https://docs.cloud.google.com/vertex-ai/generative-ai/docs/thought-signatures). Risk: the
placeholder skips validation but the model loses its earlier reasoning for that step.

Usage convention (broker.jobs.Usage, OpenAI's): ``completion_tokens`` = ``candidatesTokenCount``
+ ``thoughtsTokenCount`` (Gemini counts thinking apart from the candidates, python-genai
``GenerateContentResponseUsageMetadata``), ``reasoning_tokens`` = ``thoughtsTokenCount``,
``prompt_tokens`` = ``promptTokenCount`` (it includes ``cachedContentTokenCount``).

The package: ``signatures`` carries thought signatures in tool-call ids, ``request`` builds the
body, ``response`` reads a GenerateContentResponse, ``errors`` classifies google.rpc errors; this
module is the adapter that puts them together.
"""

from __future__ import annotations

from collections.abc import Mapping

from adapters.answers import answer_object
from adapters.base import AdapterTarget, HttpCall, ParsedResponse
from adapters.errors import ProviderError
from adapters.gemini.errors import classify_error
from adapters.gemini.request import API_VERSION, request_body
from adapters.gemini.response import parsed_response
from broker.jobs import CompletionRequest

__all__ = ["GeminiAdapter"]


class GeminiAdapter:
    """Gemini's generateContent: Google's bodies both ways, errors by google.rpc status."""

    name: str = "gemini"

    def build_request(
        self, request: CompletionRequest, target: AdapterTarget, api_key: str
    ) -> HttpCall:
        """The call for ``request``; InvalidRequest for what generateContent cannot carry."""
        model = target.model_id.removeprefix("models/")
        return HttpCall(
            method="POST",
            url=f"{target.base_url.rstrip('/')}/{API_VERSION}/models/{model}:generateContent",
            headers={"Content-Type": "application/json", "x-goog-api-key": api_key},
            json=request_body(request, target.model_id),
        )

    def parse_response(
        self, status_code: int, headers: Mapping[str, str], body: bytes, target: AdapterTarget
    ) -> ParsedResponse:
        """The GenerateContentResponse in ``body`` as a chat.completion."""
        payload = answer_object(body, status_code)
        if "error" in payload and "candidates" not in payload:
            raise self.classify_error(status_code, headers, body)
        try:
            return parsed_response(payload, target)
        except ProviderError as exc:
            exc.status_code = status_code
            raise

    def classify_error(
        self, status_code: int, headers: Mapping[str, str], body: bytes
    ) -> ProviderError:
        """The ProviderError for Google's ``{"error": {code, message, status, details}}``."""
        return classify_error(status_code, headers, body)
