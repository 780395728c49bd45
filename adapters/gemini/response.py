"""A GenerateContentResponse read as an OpenAI chat.completion, with its usage.

Usage convention (broker.jobs.Usage, OpenAI's): ``completion_tokens`` = ``candidatesTokenCount``
+ ``thoughtsTokenCount`` (Gemini counts thinking apart from the candidates, python-genai
``GenerateContentResponseUsageMetadata``), ``reasoning_tokens`` = ``thoughtsTokenCount``,
``prompt_tokens`` = ``promptTokenCount`` (it includes ``cachedContentTokenCount``) +
``toolUsePromptTokenCount``, and ``total_tokens`` their sum, so the totals always add up.

The Gemini API documents ``totalTokenCount`` as prompt + candidates + thoughts + tool-use
prompt (https://ai.google.dev/api/generate-content#UsageMetadata), but some responses count
the thinking inside ``candidatesTokenCount`` as well; a total that equals prompt + candidates
while thoughts are reported says which kind this one is.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from adapters.base import AdapterTarget, ParsedResponse
from adapters.errors import (
    AuthError,
    ContentBlocked,
    ProviderError,
    ServerError,
    TargetError,
)
from adapters.finish_reasons import FinishReason, FinishReasonTable, finish_reason_from
from adapters.gemini.request import PROVIDER_LABEL
from adapters.gemini.signatures import encode_tool_call_id
from adapters.json_values import count
from broker.jobs import Choice, ResponseMessage, ToolCall, Usage

__all__ = [
    "ERROR_FINISH_REASONS",
    "FINISH_REASON_TABLE",
    "logprobs_from",
    "parsed_response",
    "tool_call_from_part",
    "usage_from",
]

# candidates[].finishReason -> OpenAI finish_reason. Values from python-genai types.FinishReason,
# documented at https://ai.google.dev/api/generate-content#FinishReason. STOP becomes
# "tool_calls" when the candidate carries function calls (Gemini says STOP for those).
FINISH_REASON_TABLE: FinishReasonTable = MappingProxyType(
    {
        "STOP": "stop",
        "MAX_TOKENS": "length",
        # the per-request token limit cut the answer; it can be continued, like "length"
        "CONTINUATION": "length",
        "SAFETY": "content_filter",
        "RECITATION": "content_filter",
        "LANGUAGE": "content_filter",
        "OTHER": "content_filter",
        "BLOCKLIST": "content_filter",
        "PROHIBITED_CONTENT": "content_filter",
        "SPII": "content_filter",
        "IMAGE_SAFETY": "content_filter",
        "IMAGE_PROHIBITED_CONTENT": "content_filter",
        "IMAGE_RECITATION": "content_filter",
        "IMAGE_OTHER": "content_filter",
        "NO_IMAGE": "content_filter",
        "ESCALATION": "content_filter",
        "MODEL_ARMOR": "content_filter",
    }
)

# Finish reasons that mean no usable answer was produced: raised, not returned. A malformed or
# unexpected function call is a sampling failure that another try may avoid (ServerError); a
# missing thought signature means this target cannot take this history, another provider can.
ERROR_FINISH_REASONS: Mapping[str, type[ProviderError]] = MappingProxyType(
    {
        "MALFORMED_FUNCTION_CALL": ServerError,
        "UNEXPECTED_TOOL_CALL": ServerError,
        "TOO_MANY_TOOL_CALLS": ServerError,
        "MALFORMED_RESPONSE": ServerError,
        "FINISH_REASON_UNSPECIFIED": ServerError,
        "MISSING_THOUGHT_SIGNATURE": TargetError,
        # the account is limited for Prohibited Use Policy violations: this key cannot serve
        "PUP_LIMITED_DISABLED": AuthError,
    }
)

def parsed_response(payload: Mapping[str, Any], target: AdapterTarget) -> ParsedResponse:
    """A GenerateContentResponse as a chat.completion; ContentBlocked for a refused prompt."""
    candidates = payload.get("candidates")
    feedback = payload.get("promptFeedback")
    if not candidates:
        reason = feedback.get("blockReason") if isinstance(feedback, dict) else None
        if reason:
            # the prompt itself was refused: DESIGN's ContentBlocked (reroute if allowed)
            raise ContentBlocked(
                f"{PROVIDER_LABEL} blocked the prompt: promptFeedback.blockReason {reason}",
                provider_code=str(reason),
            )
        raise ServerError("the answer has no candidates")
    if not isinstance(candidates, list):
        raise ServerError("the answer's candidates is not a list")
    response_id = str(payload.get("responseId") or "")
    choices = [
        _choice(candidate, position, response_id)
        for position, candidate in enumerate(candidates)
    ]
    return ParsedResponse(
        id=response_id or f"gemini-{_digest(payload)}",
        model=str(payload.get("modelVersion") or target.model_id),
        created=int(time.time()),
        choices=choices,
        usage=usage_from(payload.get("usageMetadata")),
    )


def _choice(candidate: Any, position: int, response_id: str) -> Choice:
    if not isinstance(candidate, dict):
        raise ServerError(f"candidate {position} is not an object")
    native = candidate.get("finishReason")
    if isinstance(native, str) and native in ERROR_FINISH_REASONS:
        raise ERROR_FINISH_REASONS[native](
            f"the generation failed: finishReason {native}", provider_code=native
        )
    index = candidate.get("index")
    index = index if isinstance(index, int) else position
    content = candidate.get("content")
    parts = content.get("parts") if isinstance(content, dict) else None
    parts = [part for part in parts or () if isinstance(part, dict)]
    texts = [p["text"] for p in parts if isinstance(p.get("text"), str) and not p.get("thought")]
    calls = [
        _tool_call(part, response_id, index, number)
        for number, part in enumerate(p for p in parts if isinstance(p.get("functionCall"), dict))
    ]
    unknown: FinishReason = "tool_calls" if calls else "stop"
    finish = finish_reason_from(FINISH_REASON_TABLE, native, unknown=unknown)
    if calls and finish == "stop":
        finish = "tool_calls"
    return Choice(
        index=index,
        message=ResponseMessage(
            content="".join(texts) if texts else None,
            tool_calls=calls or None,
        ),
        finish_reason=finish,
        logprobs=logprobs_from(candidate.get("logprobsResult")),
    )


def logprobs_from(raw: Any) -> dict[str, Any] | None:
    """A candidate's ``logprobsResult`` as OpenAI's ``choices[].logprobs``: ``chosenCandidates``
    are the tokens, ``topCandidates`` (one entry per step) their alternatives
    (https://ai.google.dev/api/generate-content#LogprobsResult)."""
    if not isinstance(raw, dict) or not isinstance(raw.get("chosenCandidates"), list):
        return None
    steps = raw.get("topCandidates")
    steps = steps if isinstance(steps, list) else []
    content = []
    for position, chosen in enumerate(raw["chosenCandidates"]):
        step = steps[position] if position < len(steps) else None
        alternatives = step.get("candidates") if isinstance(step, dict) else None
        content.append(
            {
                **_token_logprob(chosen),
                "top_logprobs": [
                    _token_logprob(item) for item in alternatives or () if isinstance(item, dict)
                ],
            }
        )
    return {"content": content, "refusal": None}


def _token_logprob(raw: Any) -> dict[str, Any]:
    token = raw.get("token") if isinstance(raw, dict) else None
    token = token if isinstance(token, str) else ""
    value = raw.get("logProbability") if isinstance(raw, dict) else None
    logprob = float(value) if isinstance(value, int | float) else 0.0
    return {"token": token, "logprob": logprob, "bytes": list(token.encode())}


def _tool_call(part: Mapping[str, Any], response_id: str, index: int, number: int) -> ToolCall:
    call = part["functionCall"]
    name = call.get("name")
    if not isinstance(name, str) or not name:
        raise ServerError("a functionCall part has no name")
    args = call.get("args")
    args = args if isinstance(args, dict) else {}
    arguments = json.dumps(args, ensure_ascii=False)
    # deterministic: the same answer gives the same ids (the Developer API sends none)
    base = "call_" + hashlib.sha256(
        json.dumps([response_id, index, number, name, arguments]).encode("utf-8")
    ).hexdigest()[:24]
    signature = part.get("thoughtSignature")
    return ToolCall.model_validate(
        {
            "id": encode_tool_call_id(base, signature if isinstance(signature, str) else None),
            "type": "function",
            "function": {"name": name, "arguments": arguments},
        }
    )


def usage_from(raw: Any) -> Usage:
    """usageMetadata in OpenAI's convention (see the module docstring)."""
    if not isinstance(raw, dict):
        return Usage()
    prompt = count(raw.get("promptTokenCount")) + count(raw.get("toolUsePromptTokenCount"))
    thoughts = count(raw.get("thoughtsTokenCount"))
    candidates = count(raw.get("candidatesTokenCount"))
    completion = candidates + thoughts
    if thoughts and count(raw.get("totalTokenCount")) == prompt + candidates:
        # this response's candidate count already holds the thinking (its total says so)
        completion = candidates
    return Usage(
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=prompt + completion,
        cached_tokens=count(raw.get("cachedContentTokenCount")),
        reasoning_tokens=thoughts,
    )


def _digest(payload: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:24]


def tool_call_from_part(
    part: Mapping[str, Any], response_id: str, index: int, number: int
) -> ToolCall:
    """The ToolCall of a ``functionCall`` part: the same id an unstreamed answer gives it."""
    return _tool_call(part, response_id, index, number)
