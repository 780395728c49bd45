"""Azure OpenAI: OpenAI's bodies at deployment URLs, an api-version, and the api-key header.

Two URL shapes, chosen by ``target.options["api_version"]``:

- a dated version (``2024-10-21``): ``{base_url}/openai/deployments/{model_id}/chat/completions
  ?api-version=...``, the deployment name being the target's ``model_id``
  (openai-python ``lib/azure.py``);
- ``"v1"``: ``{base_url}/openai/v1/chat/completions`` with the deployment as ``model`` in the
  body, no api-version (https://learn.microsoft.com/azure/ai-foundry/openai/api-version-lifecycle).

A target without ``api_version`` is a catalog mistake, not a bad request: it raises
ModelNotFound (a TargetError, so the job moves on to its next target) naming the option.

Errors are OpenAI's with two Azure habits: a 429 whose wait is only in the message ("Please
retry after 86400 seconds") and a prompt-filter 400 whose ``innererror.code`` is
``ResponsibleAIPolicyViolation`` (provider-formats.md section 2).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from adapters.base import AdapterTarget, HttpCall
from adapters.errors import ContentBlocked, ModelNotFound, ProviderError, RateLimited
from adapters.http_errors import make_error
from adapters.http_response import read_json_object
from adapters.openai_chat import OpenAIChatAdapter
from adapters.openai_quirks import CompatQuirks
from broker.jobs import CompletionRequest

__all__ = [
    "AZURE_QUIRKS",
    "AZURE_V1",
    "AzureOpenAIAdapter",
    "FIRST_PREVIEW_WITH_MAX_COMPLETION_TOKENS",
    "MAX_TOKENS_STABLE_VERSIONS",
    "azure_endpoint",
    "retry_after_from_message",
    "takes_max_completion_tokens",
]

AZURE_V1 = "v1"
AZURE_QUIRKS = CompatQuirks()

# api-versions whose createChatCompletionRequest has max_tokens but no max_completion_tokens
# (azure-rest-api-specs, specification/cognitiveservices/data-plane/AzureOpenAI/inference/
# stable/<version>/inference.yaml: every stable version up to 2024-10-21); they answer 400
# "Unrecognized request argument supplied: max_completion_tokens".
MAX_TOKENS_STABLE_VERSIONS = frozenset(
    {"2022-12-01", "2023-05-15", "2024-02-01", "2024-06-01", "2024-10-21"}
)
# previews gained max_completion_tokens with the o1 models in 2024-09-01-preview
FIRST_PREVIEW_WITH_MAX_COMPLETION_TOKENS = "2024-09-01-preview"

# innererror.code values that mean the content filter refused the prompt
_FILTER_INNER_CODES = frozenset({"ResponsibleAIPolicyViolation"})
_RETRY_IN_MESSAGE = re.compile(r"retry after (\d+(?:\.\d+)?) seconds?", re.IGNORECASE)


def azure_endpoint(target: AdapterTarget) -> tuple[str, dict[str, str], bool]:
    """(url, query params, whether the body names the model) for ``target``."""
    version = target.options.get("api_version")
    if not isinstance(version, str) or not version.strip():
        raise ModelNotFound(
            f"azure target {target.model_id!r} has no options.api_version "
            "(a dated version such as '2024-10-21', or 'v1')"
        )
    base = target.base_url.rstrip("/")
    if version == AZURE_V1:
        return f"{base}/openai/v1/chat/completions", {}, True
    url = f"{base}/openai/deployments/{target.model_id}/chat/completions"
    return url, {"api-version": version}, False


def takes_max_completion_tokens(api_version: str) -> bool:
    """Whether ``api_version`` accepts max_completion_tokens (else the limit goes in max_tokens)."""
    if api_version in MAX_TOKENS_STABLE_VERSIONS:
        return False
    if api_version.endswith("-preview"):
        # dated previews compare as text: YYYY-MM-DD sorts by date
        return api_version >= FIRST_PREVIEW_WITH_MAX_COMPLETION_TOKENS
    return True  # v1, and stable versions newer than the table


def retry_after_from_message(message: str) -> float | None:
    """The wait in an Azure 429 message ("Please retry after 86400 seconds."), if any."""
    found = _RETRY_IN_MESSAGE.search(message)
    return float(found.group(1)) if found is not None else None


class AzureOpenAIAdapter(OpenAIChatAdapter):
    """Azure OpenAI chat completions (classic deployment URLs or the v1 API)."""

    name = "azure"
    quirks = AZURE_QUIRKS

    def build_request(
        self, request: CompletionRequest, target: AdapterTarget, api_key: str
    ) -> HttpCall:
        url, params, model_in_body = azure_endpoint(target)
        call = super().build_request(request, target, api_key)
        body: dict[str, Any] = dict(call.json)
        if not model_in_body:
            del body["model"]  # the deployment in the path says which model
        if "max_completion_tokens" in body and not takes_max_completion_tokens(
            params.get("api-version", AZURE_V1)
        ):
            body["max_tokens"] = body.pop("max_completion_tokens")
        return HttpCall(
            method="POST",
            url=url,
            headers={"Content-Type": "application/json", "api-key": api_key},
            json=body,
            params=params,
        )

    def classify_error(
        self, status_code: int, headers: Mapping[str, str], body: bytes
    ) -> ProviderError:
        error = super().classify_error(status_code, headers, body)
        inner = _inner_error(body)
        if inner.get("code") in _FILTER_INNER_CODES and not isinstance(error, ContentBlocked):
            error = make_error(
                ContentBlocked,
                error.message,
                status_code=status_code,
                provider_code=error.provider_code,
                headers=headers,
            )
        if isinstance(error, RateLimited) and error.retry_after is None:
            error.retry_after = retry_after_from_message(_message(body))
        return error


def _error(body: bytes) -> dict[str, Any]:
    payload = read_json_object(body) or {}
    inner = payload.get("error")
    return inner if isinstance(inner, dict) else {}


def _inner_error(body: bytes) -> dict[str, Any]:
    inner = _error(body).get("innererror")
    return inner if isinstance(inner, dict) else {}


def _message(body: bytes) -> str:
    message = _error(body).get("message")
    return message if isinstance(message, str) else ""
