"""Checks of a pipeline definition that pydantic cannot make: references, cycles, tiers.

Each problem is reported with the path of the field that holds it, and all of them at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import ValidationError

from broker.jobs import format_validation_error
from broker.pipelines.spec import PipelineSpec, StepSpec, name_problem
from broker.pipelines.templates import TemplateError, missing_input, step_references

__all__ = [
    "PipelineError",
    "dependencies",
    "input_problems",
    "named_pipelines",
    "parse_pipeline",
    "topological_order",
]


class PipelineError(ValueError):
    """A pipeline definition refused; the message has one line per problem, path first."""


def parse_pipeline(
    data: Any, *, tiers: Iterable[str] | None = None, where: str = ""
) -> PipelineSpec:
    """A checked pipeline from its JSON form; raises PipelineError naming every bad field.

    ``tiers`` (the catalog's tier names), when given, are checked too.
    """
    try:
        spec = PipelineSpec.model_validate(data)
    except ValidationError as exc:
        raise PipelineError(format_validation_error(exc, data, prefix=where)) from exc
    problems = _problems(spec, frozenset(tiers) if tiers is not None else None)
    if problems:
        prefix = f"{where}." if where else ""
        raise PipelineError("\n".join(f"{prefix}{line}" for line in problems))
    return spec


def named_pipelines(section: Mapping[str, Any], tiers: Iterable[str]) -> dict[str, PipelineSpec]:
    """The catalog's ``pipelines:`` section checked, each named by its key; raises
    PipelineError naming ``pipelines.<name>.<field>`` for every problem found."""
    known = frozenset(tiers)
    found: dict[str, PipelineSpec] = {}
    problems: list[str] = []
    for name, data in section.items():
        where = f"pipelines.{name}"
        if not isinstance(name, str) or name_problem(name) is not None:
            problems.append(f"{where}: the name {name_problem(str(name))}")
            continue
        body = {**data, "name": name} if isinstance(data, dict) else data
        try:
            found[name] = parse_pipeline(body, tiers=known, where=where)
        except PipelineError as exc:
            problems.append(str(exc))
    if problems:
        raise PipelineError("\n".join(problems))
    return found


def input_problems(spec: PipelineSpec, data: Mapping[str, Any]) -> list[str]:
    """Each ``input.<key>`` a template reads that the pipeline's input does not hold."""
    problems: list[str] = []
    for name, step in spec.steps.items():
        for field, template in (("prompt", step.prompt), ("system", step.system)):
            for path in missing_input(template or "", data):
                problems.append(f"{path}: missing (steps.{name}.{field} reads it)")
    return problems


def dependencies(spec: PipelineSpec) -> dict[str, frozenset[str]]:
    """Each step's steps that must be accepted before it runs.

    Besides ``after`` and the steps its routing, branch and templates read, a step that reads a
    validated step waits for that step's validator too, so it never reads an answer that will be
    sent back.
    """
    validators = {step.validates: name for name, step in spec.steps.items() if step.validates}
    deps: dict[str, frozenset[str]] = {}
    for name, step in spec.steps.items():
        direct = _direct(step)
        judged = {validators[d] for d in direct if d in validators and validators[d] != name}
        deps[name] = frozenset(direct | judged)
    return deps


def topological_order(deps: Mapping[str, frozenset[str]]) -> list[str] | None:
    """The steps in an order that runs each after its dependencies, or None for a cycle."""
    order: list[str] = []
    placed: set[str] = set()
    while len(order) < len(deps):
        ready = [n for n in deps if n not in placed and deps[n] <= placed]
        if not ready:
            return None
        order.extend(ready)
        placed.update(ready)
    return order


def _direct(step: StepSpec) -> set[str]:
    found = set(step.after)
    for ref in (step.tier_from, step.when):
        if ref is not None:
            found.add(ref.step)
    if step.validates is not None:
        found.add(step.validates)
    for template in (step.prompt, step.system or ""):
        try:
            found |= step_references(template)
        except TemplateError:
            pass  # reported by _template_problems
    return found


def _problems(spec: PipelineSpec, tiers: frozenset[str] | None) -> list[str]:
    problems: list[str] = []
    names = set(spec.steps)
    if spec.output is not None and spec.output not in names:
        problems.append(f"output: no step named {spec.output!r}")
    judged: dict[str, str] = {}
    for name, step in spec.steps.items():
        path = f"steps.{name}"
        problems += _reference_problems(path, name, step, names)
        problems += _template_problems(path, step, names)
        problems += _tier_problems(path, step, tiers)
        if step.validates is not None and step.validates in judged:
            problems.append(
                f"{path}.validates: {step.validates!r} is validated by"
                f" {judged[step.validates]!r} already"
            )
        if step.validates is not None:
            judged[step.validates] = name
    if not problems and topological_order(dependencies(spec)) is None:
        problems.append("steps: the steps depend on each other in a cycle")
    return problems


def _reference_problems(path: str, name: str, step: StepSpec, names: set[str]) -> list[str]:
    refs: list[tuple[str, str]] = [(f"{path}.after[{i}]", ref) for i, ref in enumerate(step.after)]
    if step.tier_from is not None:
        refs.append((f"{path}.tier_from.step", step.tier_from.step))
    if step.when is not None:
        refs.append((f"{path}.when.step", step.when.step))
    if step.validates is not None:
        refs.append((f"{path}.validates", step.validates))
    problems = [f"{where}: no step named {ref!r}" for where, ref in refs if ref not in names]
    problems += [f"{where}: a step cannot wait for itself" for where, ref in refs if ref == name]
    return problems


def _template_problems(path: str, step: StepSpec, names: set[str]) -> list[str]:
    problems: list[str] = []
    for field, template in (("prompt", step.prompt), ("system", step.system)):
        if template is None:
            continue
        try:
            for ref in step_references(template):
                if ref not in names:
                    problems.append(f"{path}.{field}: reads steps.{ref}: no step named {ref!r}")
        except TemplateError as exc:
            problems.append(f"{path}.{field}: {exc}")
    return problems


def _tier_problems(path: str, step: StepSpec, tiers: frozenset[str] | None) -> list[str]:
    if tiers is None:
        return []
    named = [(f"{path}.tier", step.tier)] if step.tier else []
    if step.tier_from is not None:
        named += [(f"{path}.tier_from.tiers.{k}", v) for k, v in step.tier_from.tiers.items()]
        if step.tier_from.default is not None:
            named.append((f"{path}.tier_from.default", step.tier_from.default))
    named += [(f"{path}.escalate[{i}]", tier) for i, tier in enumerate(step.escalate)]
    return [
        f"{where}: no tier named {tier!r} (tiers: {', '.join(sorted(tiers))})"
        for where, tier in named
        if tier not in tiers
    ]
