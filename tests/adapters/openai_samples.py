"""OpenAI chat-completions wire samples shared by the adapter tests.

Success bodies follow the ChatCompletion schema of openai/openai-openapi (required: id, object,
created, model, choices; usage with prompt/completion token details). Error bodies are the real
ones quoted in shared/reference/provider-formats.md section 1.3 and in the public issue threads
named next to each; request ids and organisation ids are shortened.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["ERROR_BODIES", "SUCCESS_BODIES", "as_bytes"]


def as_bytes(document: dict[str, Any]) -> bytes:
    return json.dumps(document).encode()


PLAIN_COMPLETION: dict[str, Any] = {
    "id": "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT",
    "object": "chat.completion",
    "created": 1741569952,
    "model": "gpt-4.1-2025-04-14",
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": "Hello! How can I assist you today?",
                "refusal": None,
                "annotations": [],
            },
            "logprobs": None,
            "finish_reason": "stop",
        }
    ],
    "usage": {
        "prompt_tokens": 19,
        "completion_tokens": 10,
        "total_tokens": 29,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    },
    "service_tier": "default",
    "system_fingerprint": "fp_50cad350e4",
}

TOOL_CALL_COMPLETION: dict[str, Any] = {
    "id": "chatcmpl-abc123",
    "object": "chat.completion",
    "created": 1699896916,
    "model": "gpt-4o-mini",
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_abc123",
                        "type": "function",
                        "function": {
                            "name": "get_current_weather",
                            "arguments": '{\n"location": "Boston, MA"\n}',
                        },
                    }
                ],
                "refusal": None,
            },
            "logprobs": None,
            "finish_reason": "tool_calls",
        }
    ],
    "usage": {"prompt_tokens": 82, "completion_tokens": 17, "total_tokens": 99},
}

REFUSAL_COMPLETION: dict[str, Any] = {
    "id": "chatcmpl-refusal1",
    "object": "chat.completion",
    "created": 1723000000,
    "model": "gpt-4o-2024-08-06",
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": None,
                "refusal": "I'm sorry, I can't assist with that request.",
            },
            "logprobs": None,
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 30, "completion_tokens": 12, "total_tokens": 42},
}

# A reasoning model that read a cached prompt prefix: cached_tokens are part of prompt_tokens,
# reasoning_tokens part of completion_tokens (openapi CompletionUsage descriptions).
REASONING_CACHED_COMPLETION: dict[str, Any] = {
    "id": "chatcmpl-reason1",
    "object": "chat.completion",
    "created": 1745000000,
    "model": "o4-mini-2025-04-16",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "42", "refusal": None},
            "logprobs": None,
            "finish_reason": "length",
        }
    ],
    "usage": {
        "prompt_tokens": 2006,
        "completion_tokens": 300,
        "total_tokens": 2306,
        "prompt_tokens_details": {"cached_tokens": 1920, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 256,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    },
    "system_fingerprint": None,
}

SUCCESS_BODIES: dict[str, dict[str, Any]] = {
    "plain": PLAIN_COMPLETION,
    "tool_call": TOOL_CALL_COMPLETION,
    "refusal": REFUSAL_COMPLETION,
    "reasoning_cached": REASONING_CACHED_COMPLETION,
}


def _error(message: str, type_: str | None, code: str | None, param: str | None = None) -> bytes:
    return as_bytes({"error": {"message": message, "type": type_, "param": param, "code": code}})


ERROR_BODIES: dict[str, bytes] = {
    # provider-formats.md 1.3
    "invalid_api_key": _error(
        "Incorrect API key provided: sk-abc12***************************wxyz. You can find your "
        "API key at https://platform.openai.com/account/api-keys.",
        "invalid_request_error",
        "invalid_api_key",
    ),
    # provider-formats.md 1.3 (crewAIInc/crewAI-examples#121)
    "context_length_exceeded": _error(
        "This model's maximum context length is 128000 tokens. However, your messages resulted "
        "in 204308 tokens. Please reduce the length of the messages.",
        "invalid_request_error",
        "context_length_exceeded",
        "messages",
    ),
    # openai/openai-agents-python#458
    "model_not_found": _error(
        "The model `computer-use-preview-2025-03-11` does not exist or you do not have access "
        "to it.",
        "invalid_request_error",
        "model_not_found",
    ),
    # chatanywhere/GPT_API_free#229, langchain-ai/langchainjs#1929
    "insufficient_quota": _error(
        "You exceeded your current quota, please check your plan and billing details. For more "
        "information on this error, read the docs: "
        "https://platform.openai.com/docs/guides/error-codes/api-errors.",
        "insufficient_quota",
        "insufficient_quota",
    ),
    # code from provider-formats.md 0.3/1.3; the message text is illustrative, not captured
    "credit_balance_exhausted": _error(
        "Your credit balance is exhausted.", "insufficient_quota", "credit_balance_exhausted"
    ),
    # TheR1D/shell_gpt#653
    "rate_limit_exceeded": _error(
        "Rate limit reached for gpt-4o in organization org-123 on tokens per min (TPM): Limit "
        "30000, Used 28039, Requested 3906. Please try again in 3.89s. Visit "
        "https://platform.openai.com/account/rate-limits to learn more.",
        "tokens",
        "rate_limit_exceeded",
    ),
    # songquanpeng/one-api#737 (the images endpoint; chat input rejections use the same code)
    "content_policy_violation": _error(
        "Your request was rejected as a result of our safety system. Your prompt may contain "
        "text that is not allowed by our safety system.",
        "invalid_request_error",
        "content_policy_violation",
    ),
    # alan-turing-institute/t0-1#69 (reasoning models)
    "invalid_prompt": _error(
        "Invalid prompt: your prompt was flagged as potentially violating our usage policy. "
        "Please try again with a different prompt.",
        "invalid_request_error",
        "invalid_prompt",
    ),
    # openai/openai-cua-sample-app#54
    "server_error": _error(
        "The server had an error processing your request. Sorry about that! You can retry your "
        "request, or contact us through our help center at help.openai.com if you keep seeing "
        "this error. (Please include the request ID req_540c6eaab7f4 in your email.)",
        "server_error",
        None,
    ),
    # code and type from provider-formats.md 1.3; the message text is illustrative
    "server_is_overloaded": _error(
        "The server is overloaded. Please try again later.",
        "service_unavailable_error",
        "server_is_overloaded",
    ),
    # a 400 naming a bad parameter: openapi ErrorResponse shape, illustrative text
    "invalid_value": _error(
        "Invalid value for 'temperature': must be between 0 and 2.",
        "invalid_request_error",
        "invalid_value",
        "temperature",
    ),
}
