"""Which request parameters each wire format can carry: data the planner routes by.

A parameter is one of three kinds (the full list of OpenAI's, and each one's kind, is
``PARAMETER_KINDS``; openai-python ``types/chat/completion_create_params.py``,
``CompletionCreateParamsBase``):

- **routed**: it changes the answer (``n``, ``seed``, ``stop``, ``logprobs``, ...). A format that
  cannot carry it, or not this value of it, drops its targets from the job's route
  (``routing/planner.py``), so the job is answered by a model that can.
- **hint**: it says how to serve the call (``service_tier``, ``prompt_cache_key``, ...). Sent
  where the format has it, left out elsewhere; never a reason to drop a target.
- **unsent**: accepted and never sent (``stream_options``: each stream format asks for the
  usage itself, ``store: false``, ``modalities: ["text"]``, ``metadata``).

Parameters cascade refuses outright (``audio``, ``functions``, ``function_call``, ``store: true``)
are refused by the request model itself, ``broker/chat_request.py``, naming the reason.

Each format's table sits here, next to the others, and each adapter reads its own to decide what
it sends; the sources are named on each table.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

from broker.chat_request import CompletionRequest

__all__ = [
    "PARAMETER_KINDS",
    "ROUTED",
    "WIRE_PARAMETERS",
    "ParameterKind",
    "ValueLimit",
    "WireParameters",
    "parameters_for",
    "requested_parameters",
    "uncarried",
]

ParameterKind = Literal["core", "routed", "hint", "unsent", "refused"]

# Every documented chat-completions parameter (openai-python 3.57 CompletionCreateParamsBase,
# plus ``stream`` from CompletionCreateParamsNonStreaming) and what cascade does with it.
PARAMETER_KINDS: Mapping[str, ParameterKind] = MappingProxyType(
    {
        "messages": "core",
        "model": "core",  # a tier or a catalog model: the route, not a parameter
        "stream": "core",  # a streamed job (envelope.stream): the worker streams the answer
        "tools": "core",  # capabilities, routed by the catalog (Capability.TOOLS)
        "tool_choice": "core",
        "response_format": "core",  # capabilities json_object / json_schema
        "parallel_tool_calls": "core",
        "max_tokens": "core",  # routed by each model's max_output_tokens
        "max_completion_tokens": "core",
        "temperature": "routed",
        "top_p": "routed",
        "stop": "routed",
        "seed": "routed",
        "n": "routed",
        "frequency_penalty": "routed",
        "presence_penalty": "routed",
        "logit_bias": "routed",
        "logprobs": "routed",
        "top_logprobs": "routed",
        "reasoning_effort": "routed",
        "verbosity": "routed",
        "web_search_options": "routed",
        "moderation": "routed",
        "user": "hint",
        "service_tier": "hint",
        "prediction": "hint",
        "prompt_cache_key": "hint",
        "prompt_cache_retention": "hint",
        "prompt_cache_options": "hint",
        "safety_identifier": "hint",
        "metadata": "unsent",
        "stream_options": "unsent",
        "store": "unsent",  # false only: true is refused
        "modalities": "unsent",  # ["text"] only: audio is refused
        "audio": "refused",
        "functions": "refused",
        "function_call": "refused",
    }
)

ROUTED: frozenset[str] = frozenset(
    name for name, kind in PARAMETER_KINDS.items() if kind == "routed"
)


@dataclass(frozen=True, slots=True)
class ValueLimit:
    """A value (or a shape) of the request the format cannot take: ``check`` says why, or None
    when the request is clear of it."""

    parameter: str
    check: Callable[[CompletionRequest], str | None]


@dataclass(frozen=True, slots=True)
class WireParameters:
    """What one wire format carries: routed parameters, hints, and limits on values."""

    routed: frozenset[str]
    hints: frozenset[str] = frozenset()
    limits: tuple[ValueLimit, ...] = ()
    source: str = ""

    @property
    def sent(self) -> frozenset[str]:
        """Every request field beyond the core the format puts on the wire."""
        return self.routed | self.hints


def parameters_for(wire_format: str) -> WireParameters:
    """The format's table; a format without one (an OpenAI-shaped subclass) is OpenAI's."""
    return WIRE_PARAMETERS.get(wire_format, _OPENAI)


def requested_parameters(request: CompletionRequest) -> list[str]:
    """The routed parameters ``request`` sets, in PARAMETER_KINDS order (``n`` only above 1)."""
    found = []
    for name in PARAMETER_KINDS:
        if name not in ROUTED:
            continue
        value = getattr(request, name)
        if value is None or (name == "n" and value == 1):
            continue
        found.append(name)
    return found


def uncarried(request: CompletionRequest, wire_format: str) -> list[str]:
    """Why a format cannot carry ``request``: one line per parameter, none when it can."""
    table = parameters_for(wire_format)
    reasons = [
        f"{wire_format} cannot carry {name}"
        for name in requested_parameters(request)
        if name not in table.routed
    ]
    for limit in table.limits:
        reason = limit.check(request)
        if reason is not None:
            reasons.append(f"{wire_format} cannot carry {limit.parameter}: {reason}")
    return reasons


# --- value limits -------------------------------------------------------------------------


def _temperature_at_most_one(request: CompletionRequest) -> str | None:
    if request.temperature is not None and request.temperature > 1:
        return f"temperature {request.temperature:g} is above its maximum of 1"
    return None


def _no_blank_stop(request: CompletionRequest) -> str | None:
    stops = [request.stop] if isinstance(request.stop, str) else list(request.stop or ())
    if any(not stop.strip() for stop in stops):
        return "whitespace-only stop sequences are rejected"
    return None


def _no_message_names(request: CompletionRequest) -> str | None:
    named = [i for i, m in enumerate(request.messages) if getattr(m, "name", None) is not None]
    if named:
        return f"messages[{named[0]}].name: its messages carry no participant name"
    return None


def _parallel_tool_calls_allowed(request: CompletionRequest) -> str | None:
    if request.tools and request.parallel_tool_calls is False:
        return "parallel_tool_calls=false: it has no switch for one call per answer"
    return None


def _tool_choice_not_named(request: CompletionRequest) -> str | None:
    if request.tool_choice is not None and not isinstance(request.tool_choice, str):
        return "a tool_choice naming a function: only auto, none or required"
    return None


def _thinking_samples_freely(request: CompletionRequest) -> str | None:
    # Extended thinking refuses a temperature other than 1 and a top_p below 0.95
    # (https://docs.claude.com/en/docs/build-with-claude/extended-thinking).
    if request.reasoning_effort in (None, "none"):
        return None
    if request.temperature not in (None, 1):
        return "extended thinking needs temperature 1 (or unset)"
    if request.top_p is not None and request.top_p < 0.95:
        return "extended thinking needs top_p of at least 0.95 (or unset)"
    if request.tools and request.tool_choice not in (None, "auto", "none"):
        return "extended thinking cannot be combined with a forced tool_choice"
    return None


_SAMPLING = frozenset({"temperature", "top_p", "stop"})
_PENALTIES = frozenset({"frequency_penalty", "presence_penalty"})
_OPENAI_HINTS = frozenset(
    {
        "user",
        "service_tier",
        "prediction",
        "prompt_cache_key",
        "prompt_cache_retention",
        "prompt_cache_options",
        "safety_identifier",
    }
)

_OPENAI = WireParameters(
    routed=ROUTED,
    hints=_OPENAI_HINTS,
    source="openai-python types/chat/completion_create_params.py (every parameter)",
)
# Azure's data-plane inference spec (azure-rest-api-specs, specification/cognitiveservices/
# data-plane/AzureOpenAI/inference, createChatCompletionRequest of 2024-10-21 and later):
# no web_search_options, moderation or verbosity, none of OpenAI's serving hints but user.
_AZURE = WireParameters(
    routed=ROUTED - {"web_search_options", "moderation", "verbosity"},
    hints=frozenset({"user"}),
    source="azure-rest-api-specs AzureOpenAI inference createChatCompletionRequest",
)
# https://docs.claude.com/en/api/messages: temperature (0-1), top_p, stop_sequences, and
# thinking (reasoning_effort, mapped to a budget); no n, seed, penalties, logit_bias or logprobs.
_ANTHROPIC = WireParameters(
    routed=_SAMPLING | {"reasoning_effort"},
    hints=frozenset({"user"}),
    limits=(
        ValueLimit("temperature", _temperature_at_most_one),
        ValueLimit("stop", _no_blank_stop),
        ValueLimit("reasoning_effort", _thinking_samples_freely),
        ValueLimit("messages", _no_message_names),
    ),
    source="https://docs.claude.com/en/api/messages",
)
# https://ai.google.dev/api/generate-content#generationconfig: temperature, topP,
# stopSequences, seed, candidateCount, presencePenalty, frequencyPenalty, responseLogprobs and
# logprobs (answered in logprobsResult), and thinkingConfig.
_GEMINI = WireParameters(
    routed=_SAMPLING | _PENALTIES | {"seed", "n", "reasoning_effort", "logprobs", "top_logprobs"},
    limits=(ValueLimit("parallel_tool_calls", _parallel_tool_calls_allowed),),
    source="https://ai.google.dev/api/generate-content#generationconfig",
)
# https://docs.cohere.com/reference/chat (v2): temperature (0-1), p, stop_sequences, seed; one
# answer per call. Its penalties run 0-1, not OpenAI's -2-2, so they are not mapped.
_COHERE = WireParameters(
    routed=_SAMPLING | {"seed"},
    limits=(
        ValueLimit("temperature", _temperature_at_most_one),
        ValueLimit("parallel_tool_calls", _parallel_tool_calls_allowed),
        ValueLimit("tool_choice", _tool_choice_not_named),
        ValueLimit("messages", _no_message_names),
    ),
    source="https://docs.cohere.com/reference/chat",
)
# https://api-docs.deepseek.com/api/create-chat-completion: no n, seed, logit_bias or effort.
_DEEPSEEK = WireParameters(
    routed=_SAMPLING | _PENALTIES | {"logprobs", "top_logprobs"},
    source="https://api-docs.deepseek.com/api/create-chat-completion",
)
# https://docs.mistral.ai/api/#tag/chat: random_seed (seed renamed), n, penalties, prediction.
_MISTRAL = WireParameters(
    routed=_SAMPLING | _PENALTIES | {"seed", "n"},
    hints=frozenset({"prediction"}),
    source="https://docs.mistral.ai/api/#tag/chat",
)
# https://console.groq.com/docs/openai: n must be 1, messages[].name is refused; no logprobs or
# logit_bias.
_GROQ = WireParameters(
    routed=_SAMPLING | _PENALTIES | {"seed"},
    hints=frozenset({"user"}),
    limits=(ValueLimit("messages", _no_message_names),),
    source="https://console.groq.com/docs/openai",
)
# The common OpenAI-compatible core the other servers document (Together, DashScope,
# OpenRouter, vLLM, Ollama): sampling, seed, penalties.
_COMPAT = WireParameters(
    routed=_SAMPLING | _PENALTIES | {"seed", "n"},
    hints=frozenset({"user"}),
    source="each vendor's OpenAI-compatibility page (adapters/openai_vendors.py docs links)",
)
_OLLAMA = WireParameters(
    routed=_SAMPLING | _PENALTIES | {"seed"},
    source="https://docs.ollama.com/api/openai-compatibility",
)

WIRE_PARAMETERS: Mapping[str, WireParameters] = MappingProxyType(
    {
        "openai": _OPENAI,
        "azure": _AZURE,
        "anthropic": _ANTHROPIC,
        "gemini": _GEMINI,
        "cohere": _COHERE,
        "deepseek": _DEEPSEEK,
        "mistral": _MISTRAL,
        "groq": _GROQ,
        "together": _COMPAT,
        "qwen": _COMPAT,
        "openrouter": _COMPAT,
        "vllm": _COMPAT,
        "ollama": _OLLAMA,
    }
)
