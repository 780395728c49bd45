"""Anthropic's Messages API (``POST /v1/messages``) as a cascade wire format.

Request: system and developer messages go to the top-level ``system`` (one text block each, in
order); user, assistant and tool messages become alternating user/assistant turns of content
blocks (same-role neighbours merged; tool results grouped into one user turn, ahead of any
text, as the API requires); tool-call ids Anthropic rejects are rewritten (``adapters.tool_ids``).

Choices made where OpenAI's request has no Anthropic equivalent (refused with InvalidRequest,
never dropped): ``n > 1``, ``seed``, ``temperature > 1`` (Anthropic's range is 0..1), a
message ``name``, whitespace-only stop sequences. ``max_tokens`` is required by Anthropic: the
request's limit, else ``target.options["max_tokens"]``, else ``DEFAULT_MAX_TOKENS``.
``metadata`` holds cascade's own tags and is not sent (Anthropic's ``metadata`` takes only
``user_id``, which comes from ``user``).

JSON output: ``json_schema`` uses structured outputs (``output_config.format``, GA in the
anthropic SDK since late 2025 for Claude 4.5+ models); ``json_object`` has no native mode (the
structured-output schema language needs closed objects), so it forces a reserved tool whose
input is any JSON object, and the answer's call of that tool comes back as the message content.
A target whose model predates structured outputs sets ``options["json_schema_via_tool"]`` to
get the same forced-tool route for ``json_schema``. Either tool route refuses a request that
also carries tools.

Sources: anthropic-sdk-python (``types/message_create_params.py``, ``types/message.py``,
``types/stop_reason.py``, ``types/usage.py``, ``types/shared/error_type.py``, the
``error.details.error_code`` classes), https://docs.claude.com/en/api/messages and
https://docs.claude.com/en/api/errors, as summarised in shared/reference/provider-formats.md
section 3.

The package: ``request`` builds the body, ``response`` reads a Message, ``errors`` holds the
error tables; this module is the adapter that puts them together.
"""

from __future__ import annotations

from collections.abc import Mapping

from adapters.answers import answer_object
from adapters.anthropic.errors import classify_error
from adapters.anthropic.request import ANTHROPIC_VERSION, PROVIDER, request_body
from adapters.anthropic.response import parsed_response
from adapters.base import AdapterTarget, HttpCall, ParsedResponse
from adapters.errors import ProviderError, ServerError
from broker.jobs import CompletionRequest

__all__ = ["AnthropicMessagesAdapter"]


class AnthropicMessagesAdapter:
    """POST {base_url}/v1/messages with ``x-api-key`` and ``anthropic-version``."""

    name: str = PROVIDER

    def build_request(
        self, request: CompletionRequest, target: AdapterTarget, api_key: str
    ) -> HttpCall:
        """The call for ``request``; InvalidRequest for what Anthropic cannot carry."""
        return HttpCall(
            method="POST",
            url=f"{target.base_url.rstrip('/')}/v1/messages",
            headers={
                "x-api-key": api_key,
                "anthropic-version": ANTHROPIC_VERSION,
                "content-type": "application/json",
            },
            json=request_body(request, target),
        )

    def parse_response(
        self, status_code: int, headers: Mapping[str, str], body: bytes, target: AdapterTarget
    ) -> ParsedResponse:
        """The Message in ``body`` as a chat.completion; ServerError when it is not one."""
        payload = answer_object(body, status_code)
        if payload.get("type") == "error":
            raise self.classify_error(status_code, headers, body)
        if not isinstance(payload.get("content"), list):
            raise ServerError("the answer has no 'content' list", status_code=status_code)
        try:
            return parsed_response(payload, headers, target)
        except ServerError as exc:
            exc.status_code = status_code
            raise

    def classify_error(
        self, status_code: int, headers: Mapping[str, str], body: bytes
    ) -> ProviderError:
        """The most specific ProviderError for an error response (returned, not raised)."""
        return classify_error(status_code, headers, body)
