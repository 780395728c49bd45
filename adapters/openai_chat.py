"""OpenAI's chat-completions wire format, and the knobs the OpenAI-compatible vendors turn on it.

cascade's request already is an OpenAI chat-completions body, so building the call is mostly
passing it through; the work is in reading answers (``adapters/openai_answer.py``) and errors,
by the tables of ``adapters/openai_quirks.py``. The module is named ``openai_chat`` so that it
never shadows the ``openai`` SDK package.

A compatible vendor (DeepSeek, Mistral, Groq, Together, ...) reuses the adapter by subclassing
it with a different ``name`` and ``quirks`` (``adapters/openai_quirks.py``)::

    class DeepSeekAdapter(OpenAIChatAdapter):
        name = "deepseek"
        quirks = CompatQuirks(
            response_format_types=frozenset({"text", "json_object"}),
            token_limit_field="max_tokens",
            error_finish_reasons=frozenset({"insufficient_system_resource"}),
            cached_tokens_path=("prompt_cache_hit_tokens",),
        )

Sources: the request/response/error shapes of openai/openai-openapi and openai/openai-python,
as summarised in shared/reference/provider-formats.md section 1.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, ClassVar

from pydantic import ValidationError

from adapters.answers import answer_object, invalid_answer
from adapters.base import AdapterTarget, HttpCall, ParsedResponse
from adapters.errors import InvalidRequest, ProviderError, ServerError
from adapters.http_errors import error_from_response, error_object
from adapters.http_response import read_json_object
from adapters.openai_answer import parsed_response
from adapters.openai_quirks import OPENAI_QUIRKS, CompatQuirks
from adapters.parameters import PARAMETER_KINDS, WireParameters, parameters_for
from broker.jobs import CompletionRequest

__all__ = ["OpenAIChatAdapter"]

# AdapterTarget.options keys sent as headers (openai-python sends these two)
_OPTION_HEADERS: Mapping[str, str] = MappingProxyType(
    {"organization": "OpenAI-Organization", "project": "OpenAI-Project"}
)



class OpenAIChatAdapter:
    """POST {base_url}/chat/completions, Bearer auth, OpenAI's bodies both ways."""

    name: str = "openai"
    quirks: ClassVar[CompatQuirks] = OPENAI_QUIRKS

    def build_request(
        self, request: CompletionRequest, target: AdapterTarget, api_key: str
    ) -> HttpCall:
        """The call for ``request``; InvalidRequest when the vendor cannot take its format."""
        _check_response_format(request, self.quirks)
        body = _request_body(request, self.quirks, parameters_for(self.name))
        return HttpCall(
            method="POST",
            url=f"{target.base_url.rstrip('/')}/chat/completions",
            headers=_headers(api_key, target),
            json={"model": target.model_id, **body, "stream": False},
        )

    def parse_response(
        self, status_code: int, headers: Mapping[str, str], body: bytes, target: AdapterTarget
    ) -> ParsedResponse:
        """The chat.completion in ``body``; ServerError when the body is not one."""
        payload = answer_object(body, status_code)
        if not isinstance(payload.get("choices"), list):
            if "error" in payload:
                # some compatible servers report failures with a 2xx status
                raise self.classify_error(status_code, headers, body)
            raise ServerError("the answer has no 'choices' list", status_code=status_code)
        try:
            return parsed_response(payload, target, self.quirks)
        except ServerError as exc:
            exc.status_code = status_code  # raised by helpers that never see the status
            raise
        except ValidationError as exc:
            raise invalid_answer(exc, "chat.completion", status_code) from exc

    def classify_error(
        self, status_code: int, headers: Mapping[str, str], body: bytes
    ) -> ProviderError:
        """The most specific ProviderError for an error response (returned, not raised)."""
        error = error_object(read_json_object(body))
        return error_from_response(
            self.quirks.error_rules,
            status_code,
            headers,
            body,
            codes=_error_codes(error),
            message=error.get("message"),
        )


# --- building the request ----------------------------------------------------------------


def _check_response_format(request: CompletionRequest, quirks: CompatQuirks) -> None:
    response_format = request.response_format
    if response_format is not None and response_format.type not in quirks.response_format_types:
        supported = ", ".join(sorted(quirks.response_format_types))
        raise InvalidRequest(
            f"response_format {response_format.type!r} is not supported here (only {supported})"
        )


def _request_body(
    request: CompletionRequest, quirks: CompatQuirks, parameters: WireParameters
) -> dict[str, Any]:
    # by_alias: ResponseFormat.json_schema.schema_ goes on the wire as "schema"
    body = request.model_dump(mode="json", exclude_none=True, by_alias=True)
    for name in list(body):
        # a routed parameter the format lacks never gets here (the planner routed around it);
        # a hint it lacks, and what is never sent, stay off the wire
        if PARAMETER_KINDS.get(name, "core") != "core" and name not in parameters.sent:
            del body[name]
    if body.get("n") == 1:
        del body["n"]  # the default; some compatible vendors reject the field outright
    body.pop("max_tokens", None)
    body.pop("max_completion_tokens", None)
    if request.output_token_limit is not None:
        body[quirks.token_limit_field] = request.output_token_limit
    for name in quirks.dropped_fields:
        body.pop(name, None)
    for name, wire_name in quirks.renamed_fields.items():
        if name in body:
            body[wire_name] = body.pop(name)
    return body


def _headers(api_key: str, target: AdapterTarget) -> dict[str, str]:
    headers = {"Content-Type": "application/json"}
    if api_key:  # local servers (Ollama, vLLM without --api-key) take none
        headers["Authorization"] = f"Bearer {api_key}"
    for option, header in _OPTION_HEADERS.items():
        value = target.options.get(option)
        if isinstance(value, str) and value:
            headers[header] = value
    return headers



# --- reading an error --------------------------------------------------------------------


def _error_codes(error: dict[str, Any]) -> list[str]:
    """error.code then error.type, as strings (Azure sends "429", vLLM the integer 400)."""
    codes = []
    for key in ("code", "type"):
        value = error.get(key)
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
            codes.append(str(value))
    return codes
