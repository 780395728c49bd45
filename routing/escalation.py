"""Escalation: when a job goes up a tier, before it runs and after a wrong answer.

Before: a tier's ``escalate_when`` rule sends a job asked of it to its ``escalate_to`` tier when
the job looks too hard for it (a long prompt, tools, images, or the caller's
``complexity_hint: complex``); the rule of the tier reached is applied in turn, and no tier is
visited twice. A ``complexity_hint: simple`` keeps the job where it was asked.

After: a job with ``validate_json_schema`` whose answer does not parse as JSON or does not match
the request's JSON schema is tried again on the next tier of its route. Both are pure functions.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError, best_match

from broker.jobs import CompletionJob, ImageContentPart, TargetRef, UserMessage
from routing.catalog import Catalog, EscalationRule

__all__ = [
    "AnswerCheck",
    "check_answer",
    "escalate",
    "escalation_reason",
    "next_tier_hop",
]


@dataclass(frozen=True, slots=True)
class AnswerCheck:
    ok: bool
    reason: str | None = None


def _has_images(job: CompletionJob) -> bool:
    return any(
        isinstance(message, UserMessage)
        and isinstance(message.content, list)
        and any(isinstance(part, ImageContentPart) for part in message.content)
        for message in job.request.messages
    )


def escalation_reason(rule: EscalationRule, job: CompletionJob, prompt_tokens: int) -> str | None:
    """Why the rule sends the job up, or None when it does not."""
    hint = job.needs.complexity_hint
    if rule.hint and hint == "simple":
        return None
    if rule.hint and hint == "complex":
        return "the caller's complexity_hint is 'complex'"
    limit = rule.prompt_tokens_over
    if limit is not None and prompt_tokens > limit:
        return f"prompt ~{prompt_tokens:,} tokens > {limit:,}"
    if rule.tools and job.request.tools:
        return "the request carries tools"
    if rule.images and _has_images(job):
        return "the request carries images"
    return None


def escalate(
    catalog: Catalog, tier: str, job: CompletionJob, prompt_tokens: int
) -> tuple[str, tuple[str, ...]]:
    """The tier the job should run on, and one note per step up (empty when it stays)."""
    notes: list[str] = []
    visited = {tier}
    while True:
        config = catalog.tier(tier)
        target = config.escalate_to
        if target is None or target in visited:
            return tier, tuple(notes)
        reason = escalation_reason(config.escalate_when, job, prompt_tokens)
        if reason is None:
            return tier, tuple(notes)
        notes.append(f"escalated from tier {tier} to {target}: {reason}")
        visited.add(target)
        tier = target


def _schema(job: CompletionJob) -> dict[str, Any] | None:
    fmt = job.request.response_format
    if fmt is None or fmt.json_schema is None:
        return None
    return fmt.json_schema.schema_


def check_answer(content: str | None, job: CompletionJob) -> AnswerCheck:
    """Whether the answer passes the job's validation: always ok unless the job asks for it.

    With ``validate_json_schema`` the answer must parse as JSON and, when the request carries a
    ``json_schema`` response format with a schema, match it (JSON Schema draft 2020-12, the
    draft OpenAI's structured outputs accept a subset of).
    """
    if not job.needs.validate_json_schema:
        return AnswerCheck(ok=True)
    if content is None:
        return AnswerCheck(ok=False, reason="the answer has no content to validate")
    try:
        document = json.loads(content)
    except json.JSONDecodeError as exc:
        return AnswerCheck(ok=False, reason=f"the answer is not JSON: {exc.msg} at {exc.pos}")
    schema = _schema(job)
    if schema is None:
        return AnswerCheck(ok=True)
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:  # the caller's schema itself is broken: no tier can fix that
        return AnswerCheck(ok=True, reason=f"schema not checked, it is invalid: {exc.message}")
    first = best_match(Draft202012Validator(schema).iter_errors(document))
    if first is None:
        return AnswerCheck(ok=True)
    where = "/".join(str(part) for part in first.absolute_path) or "(root)"
    return AnswerCheck(
        ok=False, reason=f"the answer does not match the schema at {where}: {first.message}"
    )


def next_tier_hop(route: Sequence[TargetRef], hop: int) -> int | None:
    """The first hop after ``hop`` on another tier than route[hop]'s, or None if none is left."""
    tier = route[hop].tier
    for index in range(hop + 1, len(route)):
        if route[index].tier != tier:
            return index
    return None
