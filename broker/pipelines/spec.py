"""The pipeline definition as submitted: steps, their routing, prompts and control flow.

A bad definition is refused with the path of the bad field (``steps.answer.tier_from.step:
...``), by pydantic here and by the graph checks of ``broker.pipelines.graph``.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field, field_validator, model_validator

from broker.pipelines.templates import TemplateError, step_references
from broker.strict import Strict

__all__ = [
    "NAME_MAX",
    "name_problem",
    "PipelineSpec",
    "StepSpec",
    "TierFrom",
    "When",
]

# A pipeline id and a step name become parts of a job id ``<pipeline>.<step>.<round>``, so
# neither may hold a '.' (the driver splits a finished job's id on it) nor a ':' (ids.py).
NAME_MAX = 40
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")


def name_problem(value: str, max_length: int = NAME_MAX) -> str | None:
    """What is wrong with ``value`` as a step name or pipeline id, or None."""
    if not 1 <= len(value) <= max_length or _NAME.fullmatch(value) is None:
        return (
            f"must be 1 to {max_length} characters of A-Z, a-z, 0-9, '_' and '-', starting with"
            f" a letter or digit; got {value[:40]!r}"
        )
    return None


class TierFrom(Strict):
    """Routing by classification: the tier is looked up by a field of an earlier step's output."""

    step: str
    field: str = Field(min_length=1)
    tiers: dict[str, str] = Field(min_length=1)
    # The tier for a value the map does not hold; without one such a value fails the pipeline.
    default: str | None = None


class When(Strict):
    """A branch: the step runs only if a field of an earlier step's output is one of ``in_``."""

    step: str
    field: str = Field(min_length=1)
    in_: tuple[str, ...] = Field(alias="in", min_length=1)


class StepSpec(Strict):
    """One completion by capability, its prompt template and its place in the graph."""

    tier: str | None = Field(default=None, min_length=1)
    model: str | None = Field(default=None, min_length=1)
    tier_from: TierFrom | None = None
    # Any other routing need of a job (capabilities, policy, providers...); not tier or model,
    # and not max_cost_usd, which the pipeline's budget sets.
    needs: dict[str, Any] = Field(default_factory=dict)
    after: tuple[str, ...] = ()
    when: When | None = None
    system: str | None = None
    prompt: str = Field(min_length=1)
    # A JSON schema: sent as the step's response_format, and its answer checked against it
    # (a mismatch is a failed round, like a validator's "fail").
    output_schema: dict[str, Any] | None = None
    max_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    # This step judges the named one: its output's ``verdict`` is "pass" or anything else, with
    # an optional ``feedback`` sent back to the judged step's next round.
    validates: str | None = None
    # Tiers for the rounds after the first (round 1 uses escalate[0], ...); past the list, or
    # without one, a sent-back step stays on its tier and gets the feedback.
    escalate: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _one_route(self) -> StepSpec:
        given = [name for name in ("tier", "model", "tier_from") if getattr(self, name)]
        if len(given) != 1:
            raise ValueError(f"give exactly one of 'tier', 'model' and 'tier_from'; got {given}")
        for field in ("tier", "model", "max_cost_usd"):
            if field in self.needs:
                raise ValueError(f"needs.{field}: set by the step or the budget, not in needs")
        return self


class PipelineSpec(Strict):
    """A small declarative graph of steps; ``output`` names the step whose answer is the result."""

    name: str | None = None
    description: str | None = None
    steps: dict[str, StepSpec] = Field(min_length=1, max_length=32)
    output: str | None = None
    # How many rounds a validated or schema-checked step may take in all (the first included).
    max_rounds: int = Field(default=3, ge=1, le=10)
    budget_usd: float | None = Field(default=None, gt=0)

    @field_validator("steps")
    @classmethod
    def _step_names(cls, steps: dict[str, StepSpec]) -> dict[str, StepSpec]:
        for name in steps:
            if (problem := name_problem(name)) is not None:
                raise ValueError(f"step name {problem}")
        return steps

    @property
    def output_step(self) -> str:
        """The named output step, else the last declared step that no other step reads and
        that judges none (the graph's end), else the last step that judges none."""
        read: set[str] = set()
        for step in self.steps.values():
            read |= set(step.after) | {ref.step for ref in (step.tier_from, step.when) if ref}
            read |= {step.validates} if step.validates else set()
            read |= _template_steps(step)
        if self.output is not None:
            return self.output
        answers = [name for name, step in self.steps.items() if step.validates is None]
        ends = [name for name in answers if name not in read]
        return (ends or answers or list(self.steps))[-1]


def _template_steps(step: StepSpec) -> set[str]:
    found: set[str] = set()
    for template in (step.prompt, step.system or ""):
        try:
            found |= step_references(template)
        except TemplateError:
            pass  # refused by the graph checks, with the template's field named
    return found
