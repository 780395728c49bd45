"""What one emulated wire format provides to the app, and the data it hands back.

The app owns the flow of a call (count, authenticate, validate, fault, wait, answer); a wire
format only reads its request body into a wire-neutral ``Prompt`` and renders answers in its own
shape. Adding Anthropic, Gemini or Cohere means one class like ``OpenAIWire`` and one line in
the app's dispatch table.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import ValidationError

from adapters.emulator.content import Prompt, Reply, ToolCall
from adapters.emulator.faults import FaultRule
from broker.jobs import format_validation_error

__all__ = [
    "Answer",
    "CallMeta",
    "Parsed",
    "WireFormat",
    "call_texts",
    "first_problem",
    "named_model",
    "openai_tool_calls",
    "retry_after_text",
]


@dataclass(frozen=True, slots=True)
class Answer:
    """An HTTP answer: status, JSON body, extra headers."""

    status: int
    body: Mapping[str, Any]
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Parsed:
    """A request body read by a wire format.

    ``model`` is known as soon as the body names one (so the call is counted per model even
    when the rest is invalid); exactly one of ``prompt`` and ``error`` is set.
    """

    model: str | None
    prompt: Prompt | None = None
    error: Answer | None = None


@dataclass(frozen=True, slots=True)
class CallMeta:
    """Facts about the call that answers carry in headers or fields."""

    call_number: int  # this call's number among the calls to its provider, from 1
    latency_s: float
    created: int  # the ``created`` timestamp answers carry


class WireFormat(Protocol):
    """One provider wire format as the emulator speaks it."""

    name: str

    def authenticate(self, headers: Mapping[str, str]) -> Answer | None:
        """None when the request carries credentials, else the format's 401 answer."""
        ...

    def read(self, provider: str, body: bytes, path_params: Mapping[str, str]) -> Parsed:
        """The request body as a ``Prompt``, or the format's 400 answer naming the bad field."""
        ...

    def success(self, prompt: Prompt, reply: Reply, meta: CallMeta) -> Answer:
        """The format's success answer for ``reply``."""
        ...

    def fault(self, rule: FaultRule, model: str) -> Answer:
        """The format's error answer for a fault rule that fired."""
        ...


# --- pieces several wire formats share -------------------------------------------------


def named_model(data: Any) -> str | None:
    """The model a decoded request body names, or None (so a call counts per model even
    when the rest of its body is invalid)."""
    model = data.get("model") if isinstance(data, dict) else None
    return model if isinstance(model, str) and model else None


def first_problem(exc: ValidationError, data: Mapping[str, Any]) -> str:
    """The first bad field of a body as ``field: problem``; each format words its 400 around it."""
    return format_validation_error(exc, data).splitlines()[0]


def retry_after_text(seconds: float) -> str:
    """A ``retry-after`` value: whole seconds without a decimal point, others as short as exact."""
    return str(int(seconds)) if float(seconds).is_integer() else f"{seconds:g}"


def openai_tool_calls(calls: Iterable[ToolCall]) -> list[dict[str, Any]]:
    """Reply tool calls in OpenAI's ``tool_calls`` shape (Cohere v2 answers use it too)."""
    return [
        {
            "id": call.id,
            "type": "function",
            "function": {"name": call.name, "arguments": call.arguments},
        }
        for call in calls
    ]


def call_texts(tool_calls: Sequence[dict[str, Any]] | None) -> list[str]:
    """The text of OpenAI-shaped request tool calls (name then arguments), for token counts."""
    texts: list[str] = []
    for call in tool_calls or ():
        function = call.get("function")
        if isinstance(function, dict):
            texts.append(f"{function.get('name', '')}{function.get('arguments', '')}")
    return texts
