"""Deterministic replies and token estimates, independent of any wire format.

A wire format turns its request body into a ``Prompt`` and renders the ``Reply`` this module
computes. The reply depends only on (provider, model, messages, options): the same request gets
the same reply on every run.

Token estimate (documented so tests and benchmarks can predict it): a text costs
``ceil(characters / 4)`` tokens; a prompt costs ``3`` plus, per message, ``4`` plus its text plus
``85`` per image (OpenAI's low-detail image price); a reply costs its text, or for a tool call
its function name plus its arguments.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from adapters.emulator.labels import pick_label

__all__ = [
    "IMAGE_TOKENS",
    "MESSAGE_OVERHEAD_TOKENS",
    "PROMPT_OVERHEAD_TOKENS",
    "FinishReason",
    "Message",
    "Prompt",
    "Reply",
    "ReplyChoice",
    "ToolCall",
    "ToolSpec",
    "estimate_tokens",
    "continue_text",
    "prefill_of",
    "fill_schema",
    "make_reply",
    "prompt_tokens",
    "short_hash",
]

PROMPT_OVERHEAD_TOKENS = 3
MESSAGE_OVERHEAD_TOKENS = 4
IMAGE_TOKENS = 85
_CHARS_PER_TOKEN = 4

FinishReason = Literal["stop", "length", "tool_calls"]

# words the reply phrase is drawn from; 64 of them so one hash byte picks one word
_WORDS: tuple[str, ...] = tuple(
    """
    amber bright calm dusty eager fabled gentle hollow
    idle jolly keen lunar mellow nimble oaken pale
    quiet rapid silver tidal urban vivid woven young
    zesty brisk cobalt deep early frosty golden hazy
    river lantern meadow harbor canyon orchard beacon glacier
    falcon willow ember summit pebble thicket compass harvest
    drifts hums gleams wanders settles rises echoes turns
    over beyond beneath across toward within along past
    """.split()
)
_PHRASE_WORDS = 12


@dataclass(frozen=True, slots=True)
class Message:
    """One turn, reduced to what the emulator uses: role, its text, how many images."""

    role: str
    text: str
    images: int = 0


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A function the model may call; ``parameters`` is its JSON schema."""

    name: str
    parameters: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Prompt:
    """A request in wire-neutral terms.

    ``tool_choice`` is ``"auto"``, ``"none"``, ``"required"`` or ``"function"`` (then
    ``forced_tool`` names it). ``json_schema`` is the schema of a structured-output request;
    ``json_mode`` is set for any JSON-object output, with or without a schema.
    """

    provider: str
    model: str
    messages: tuple[Message, ...]
    tools: tuple[ToolSpec, ...] = ()
    tool_choice: str = "auto"
    forced_tool: str | None = None
    max_tokens: int | None = None
    n: int = 1
    json_mode: bool = False
    json_schema: Mapping[str, Any] | None = None
    # token log probabilities asked for: None for none, else how many alternatives per token
    logprobs: int | None = None
    # the text of a final assistant turn the answer continues (Anthropic's prefill); it is the
    # last of ``messages`` too, so it counts in the prompt's tokens
    prefill: str | None = None


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One function call of a reply; ``arguments`` is a JSON object as a string."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class ReplyChoice:
    """One choice: either text or tool calls, with its finish reason and token count."""

    index: int
    text: str | None
    tool_calls: tuple[ToolCall, ...]
    finish_reason: FinishReason
    completion_tokens: int


@dataclass(frozen=True, slots=True)
class Reply:
    """The whole answer to a prompt; ``digest`` identifies the request (for ids)."""

    digest: str
    choices: tuple[ReplyChoice, ...]
    prompt_tokens: int

    @property
    def completion_tokens(self) -> int:
        return sum(choice.completion_tokens for choice in self.choices)


def estimate_tokens(text: str) -> int:
    """``ceil(characters / 4)``: a rough, documented stand-in for a tokenizer."""
    return math.ceil(len(text) / _CHARS_PER_TOKEN)


def prompt_tokens(messages: Sequence[Message]) -> int:
    """The prompt's token estimate (see the module docstring)."""
    per_message = (
        MESSAGE_OVERHEAD_TOKENS + estimate_tokens(m.text) + IMAGE_TOKENS * m.images
        for m in messages
    )
    return PROMPT_OVERHEAD_TOKENS + sum(per_message)


def short_hash(*parts: str, length: int = 24) -> str:
    """A hex digest of ``parts`` (joined unambiguously), ``length`` characters long."""
    joined = json.dumps(parts, ensure_ascii=False)
    return hashlib.sha256(joined.encode("utf-8")).hexdigest()[:length]


def make_reply(prompt: Prompt) -> Reply:
    """The deterministic reply to ``prompt``; to a prefill, the rest of the reply it begins
    (``continue_text``)."""
    if prompt.prefill is not None:
        return _continue_reply(prompt, prompt.prefill)
    digest = short_hash(
        prompt.provider,
        prompt.model,
        json.dumps([[m.role, m.text, m.images] for m in prompt.messages], ensure_ascii=False),
    )
    tool = _tool_to_call(prompt)
    choices = tuple(
        _tool_choice_reply(tool, digest, index)
        if tool is not None
        else _text_choice_reply(prompt, index)
        for index in range(prompt.n)
    )
    return Reply(digest=digest, choices=choices, prompt_tokens=prompt_tokens(prompt.messages))


def prefill_of(messages: Sequence[Message]) -> str | None:
    """The text of a final assistant turn, which Anthropic's Messages API continues (its
    "prefill Claude's response"); None when the conversation ends otherwise."""
    last = messages[-1] if messages else None
    return last.text if last is not None and last.role == "assistant" and last.text else None


def continue_text(whole: str, prefill: str) -> str:
    """What follows ``prefill`` in the answer ``whole``: the rest of ``whole`` when it begins
    with the prefill; else (the prefill is another model's start) the words of ``whole`` after
    as many words as the prefill has, so an answer continued anywhere is as long as a whole one.
    """
    if whole.startswith(prefill):
        return whole[len(prefill) :]
    rest = whole.split()[len(prefill.split()) :]
    return " " + " ".join(rest) if rest else "."


def _continue_reply(prompt: Prompt, prefill: str) -> Reply:
    """The reply the conversation before the prefill gets, cut to what follows the prefill."""
    before = replace(prompt, messages=prompt.messages[:-1], prefill=None)
    whole = make_reply(before)
    choices = tuple(
        choice
        if choice.text is None
        else replace(
            choice,
            text=continue_text(choice.text, prefill),
            completion_tokens=estimate_tokens(continue_text(choice.text, prefill)),
        )
        for choice in whole.choices
    )
    return replace(whole, choices=choices, prompt_tokens=prompt_tokens(prompt.messages))


def fill_schema(schema: Mapping[str, Any], seed: str, hint: str = "") -> dict[str, Any]:
    """A JSON object with a deterministic value for each required property of ``schema``; an
    enum takes the value ``hint`` names most often (``labels.pick_label``)."""
    properties = schema.get("properties")
    if not isinstance(properties, Mapping):
        return {}
    required = schema.get("required")
    names = [name for name in required if name in properties] if isinstance(required, list) else []
    return {name: _value_for(name, properties[name], seed, hint) for name in names}


def _tool_to_call(prompt: Prompt) -> ToolSpec | None:
    """The tool the reply calls, or None for a text reply.

    A named or ``required`` tool choice always calls; ``auto`` calls the first tool when the
    user spoke last (after a tool result the model answers in text).
    """
    if not prompt.tools or prompt.tool_choice == "none":
        return None
    if prompt.tool_choice == "function":
        return next((t for t in prompt.tools if t.name == prompt.forced_tool), prompt.tools[0])
    if prompt.tool_choice == "required":
        return prompt.tools[0]
    last = prompt.messages[-1] if prompt.messages else None
    return prompt.tools[0] if last is not None and last.role == "user" else None


def _tool_choice_reply(tool: ToolSpec, digest: str, index: int) -> ReplyChoice:
    seed = short_hash(digest, tool.name, str(index))
    arguments = json.dumps(fill_schema(tool.parameters, seed), ensure_ascii=False)
    call = ToolCall(id=f"call_{seed}", name=tool.name, arguments=arguments)
    return ReplyChoice(
        index=index,
        text=None,
        tool_calls=(call,),
        finish_reason="tool_calls",
        completion_tokens=estimate_tokens(tool.name) + estimate_tokens(arguments),
    )


def _text_choice_reply(prompt: Prompt, index: int) -> ReplyChoice:
    text = _reply_text(prompt, index)
    finish: FinishReason = "stop"
    if prompt.max_tokens is not None and estimate_tokens(text) > prompt.max_tokens:
        text = text[: prompt.max_tokens * _CHARS_PER_TOKEN]
        finish = "length"
    return ReplyChoice(
        index=index,
        text=text,
        tool_calls=(),
        finish_reason=finish,
        completion_tokens=estimate_tokens(text),
    )


def _reply_text(prompt: Prompt, index: int) -> str:
    tag = f"[{prompt.provider}/{prompt.model}]"
    last = prompt.messages[-1] if prompt.messages else Message(role="user", text="")
    if last.role == "tool":
        phrase = f"Based on the tool result: {last.text[:200]}"
    else:
        phrase = _phrase(_last_user_text(prompt.messages), index)
    if not prompt.json_mode:
        return f"{tag} {phrase}"
    answer: dict[str, Any] = {"answer": f"{tag} {phrase}"}
    if prompt.json_schema is not None:
        hint = _last_user_text(prompt.messages)
        answer = fill_schema(prompt.json_schema, short_hash(phrase), hint) or answer
    return json.dumps(answer, ensure_ascii=False)


def _last_user_text(messages: Sequence[Message]) -> str:
    return next((m.text for m in reversed(messages) if m.role == "user"), "")


def _phrase(text: str, index: int) -> str:
    """Twelve words picked by a hash of ``text``; choice ``index`` > 0 gets its own variant."""
    seed = text if index == 0 else f"{text}\x00{index}"
    digest = hashlib.sha256(seed.encode("utf-8")).digest()
    words = [_WORDS[byte % len(_WORDS)] for byte in digest[:_PHRASE_WORDS]]
    return " ".join(words).capitalize() + "."


def _value_for(name: str, schema: Any, seed: str, hint: str = "") -> Any:
    kind = schema.get("type") if isinstance(schema, Mapping) else None
    if isinstance(schema, Mapping) and isinstance(schema.get("enum"), list) and schema["enum"]:
        return pick_label(schema["enum"], hint)
    number = int(short_hash(seed, name, length=8), 16)
    values: dict[str, Any] = {
        "integer": number % 100,
        "number": (number % 10_000) / 100,
        "boolean": number % 2 == 0,
        "array": [],
        "object": fill_schema(schema, seed, hint) if isinstance(schema, Mapping) else {},
        "null": None,
    }
    if isinstance(kind, str) and kind in values:
        return values[kind]
    return f"{name}-{short_hash(seed, name, length=8)}"
