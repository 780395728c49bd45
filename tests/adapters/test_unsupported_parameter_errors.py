"""A 400 that names a parameter the model does not take is UnsupportedParameter (a TargetError:
the job moves on to its next target) in every wire format, not an InvalidRequest that fails it.

Message texts as each provider words them: OpenAI's error-codes guide and its reasoning-model
400s ("Unsupported parameter: 'max_tokens' is not supported with this model. Use
'max_completion_tokens' instead.", code ``unsupported_parameter``); Azure on an older
api-version ("Unrecognized request argument supplied: ..."); Anthropic (pydantic's "Extra inputs
are not permitted"); Gemini ("Invalid JSON payload received. Unknown name ...").
"""

from __future__ import annotations

import json

import pytest

from adapters.anthropic import AnthropicMessagesAdapter
from adapters.errors import InvalidRequest, TargetError, UnsupportedParameter
from adapters.gemini import GeminiAdapter
from adapters.openai_chat import OpenAIChatAdapter
from adapters.openai_vendors import VllmAdapter


def _openai_body(message: str, code: str | None = None) -> bytes:
    error = {"message": message, "type": "invalid_request_error", "param": None, "code": code}
    return json.dumps({"error": error}).encode()


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ("Unsupported parameter: 'max_tokens' is not supported with this model.", None),
        ("Unsupported parameter: 'temperature'.", "unsupported_parameter"),
        (
            "Unsupported value: 'temperature' does not support 0.2 with this model.",
            "unsupported_value",
        ),
        ("Unknown parameter: 'verbosity'.", "unknown_parameter"),
        ("Unrecognized request argument supplied: reasoning_effort", None),
    ],
)
def test_openai_unsupported_parameter_400s_reroute(message: str, code: str | None) -> None:
    error = OpenAIChatAdapter().classify_error(400, {}, _openai_body(message, code))
    assert type(error) is UnsupportedParameter and isinstance(error, TargetError)


def test_vllm_extra_inputs_400_reroutes() -> None:
    body = json.dumps(
        {
            "object": "error",
            "message": "logit_bias: Extra inputs are not permitted",
            "type": "BadRequestError",
            "code": 400,
        }
    ).encode()
    assert type(VllmAdapter().classify_error(400, {}, body)) is UnsupportedParameter


def test_anthropic_extra_inputs_400_reroutes() -> None:
    body = json.dumps(
        {
            "type": "error",
            "error": {
                "type": "invalid_request_error",
                "message": "seed: Extra inputs are not permitted",
            },
        }
    ).encode()
    assert type(AnthropicMessagesAdapter().classify_error(400, {}, body)) is UnsupportedParameter


def test_gemini_unknown_name_400_reroutes() -> None:
    body = json.dumps(
        {
            "error": {
                "code": 400,
                "status": "INVALID_ARGUMENT",
                "message": 'Invalid JSON payload received. Unknown name "logitBias" at '
                "'generation_config': Cannot find field.",
            }
        }
    ).encode()
    assert type(GeminiAdapter().classify_error(400, {}, body)) is UnsupportedParameter


def test_an_ordinary_bad_request_still_fails_the_job() -> None:
    error = OpenAIChatAdapter().classify_error(400, {}, _openai_body("messages: too short"))
    assert type(error) is InvalidRequest
