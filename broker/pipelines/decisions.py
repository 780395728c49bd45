"""What a pipeline does next, as a pure function of its definition, input and step rounds.

``decide`` is called whenever one of its steps' jobs ends (and by the safety sweep); given the
same state it always answers the same, so two drivers deciding at once submit the same job ids.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import jsonschema

from broker.pipelines.graph import dependencies, topological_order
from broker.pipelines.records import StepRun, step_job_id
from broker.pipelines.spec import PipelineSpec, StepSpec
from broker.pipelines.templates import TemplateError, render

__all__ = [
    "VERDICT_SCHEMA",
    "Decision",
    "NewRun",
    "check_output",
    "decide",
    "step_request",
]

# What a validator answers when its step gives no schema of its own.
VERDICT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "verdict": {"type": "string", "enum": ["pass", "fail"]},
        "feedback": {"type": "string"},
    },
    "required": ["verdict", "feedback"],
}


@dataclass(frozen=True, slots=True)
class NewRun:
    """A step round to submit as a job."""

    step: str
    round: int
    job_id: str
    tier: str | None
    model: str | None
    request: dict[str, Any]
    needs: dict[str, Any]
    feedback: str | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    submit: list[NewRun] = field(default_factory=list)
    skip: list[str] = field(default_factory=list)
    # set when the pipeline ends: (True, None) succeeded, (False, reason) failed
    done: tuple[bool, str | None] | None = None


Runs = Mapping[str, Sequence[StepRun]]


def decide(pipeline_id: str, spec: PipelineSpec, data: Mapping[str, Any], runs: Runs) -> Decision:
    """The runs to submit and the steps to skip now, or the pipeline's end."""
    for step_runs in runs.values():
        for run in step_runs:
            if run.status == "failed":
                return Decision(done=(False, f"step {run.step!r} failed: {run.error}"))
    deps = dependencies(spec)
    order = topological_order(deps) or list(spec.steps)
    ctx = _Context(pipeline_id, spec, data, runs)
    submit: list[NewRun] = []
    skip: list[str] = []
    for name in order:
        try:
            action = ctx.next_for(name, deps[name])
        except _Stop as stop:
            return Decision(done=(False, str(stop)))
        if isinstance(action, NewRun):
            submit.append(action)
        elif action == "skip":
            skip.append(name)
    if not submit and not skip and all(ctx.final(name) for name in spec.steps):
        if ctx.final(spec.output_step) == "skipped":
            return Decision(done=(False, f"output step {spec.output_step!r} was skipped"))
        return Decision(done=(True, None))
    return Decision(submit=submit, skip=skip)


class _Stop(Exception):
    """The pipeline cannot go on: a round limit, a classification no tier is given for."""


@dataclass
class _Context:
    pipeline_id: str
    spec: PipelineSpec
    data: Mapping[str, Any]
    runs: Runs

    def latest(self, name: str) -> StepRun | None:
        found = self.runs.get(name) or ()
        return found[-1] if found else None

    def validator_of(self, name: str) -> str | None:
        return next((n for n, s in self.spec.steps.items() if s.validates == name), None)

    def rejection(self, name: str) -> str | None:
        """Why the latest round of ``name`` is refused, if it is."""
        run = self.latest(name)
        if run is None or run.status != "succeeded":
            return None
        if run.schema_error is not None:
            return f"the answer does not match the output schema: {run.schema_error}"
        judge = self.validator_of(name)
        verdict = self._verdict(judge, run.round) if judge else None
        if verdict is not None and verdict[0] != "pass":
            return verdict[1]
        return None

    def _verdict(self, judge: str, round_: int) -> tuple[str, str] | None:
        run = self.latest(judge)
        if run is None or run.round != round_ or run.status != "succeeded":
            return None
        output = run.output if isinstance(run.output, dict) else {}
        feedback = output.get("feedback")
        return str(output.get("verdict", "")), str(feedback if feedback else run.text or "")

    def final(self, name: str) -> str | None:
        """``accepted`` or ``skipped`` once a step is settled for good, else None."""
        run = self.latest(name)
        if run is None:
            return None
        if run.status == "skipped":
            return "skipped"
        if run.status != "succeeded" or self.rejection(name) is not None:
            return None
        judge = self.validator_of(name)
        if judge is not None and self._verdict(judge, run.round) is None:
            return None
        step = self.spec.steps[name]
        if step.validates is not None and self.final(step.validates) is None:
            return None
        return "accepted"

    def next_for(self, name: str, deps: frozenset[str]) -> NewRun | str | None:
        step = self.spec.steps[name]
        run = self.latest(name)
        if step.validates is not None:
            return self._judge(name, step)
        if run is not None:
            return self._resubmit(name, step, run) if self.rejection(name) else None
        settled = [self.final(dep) for dep in deps]
        if any(state is None for state in settled):
            return None
        if deps and all(state == "skipped" for state in settled):
            return "skip"
        if step.when is not None and not self._branch_taken(step):
            return "skip"
        return self._new_run(name, step, 0, self._tier(name, step), None)

    def _judge(self, name: str, step: StepSpec) -> NewRun | str | None:
        judged = self.latest(step.validates or "")
        if judged is None or judged.status == "queued" or judged.schema_error is not None:
            return "skip" if judged is not None and judged.status == "skipped" else None
        mine = self.latest(name)
        if mine is not None and (mine.round >= judged.round or mine.status == "skipped"):
            return None
        others = [d for d in dependencies(self.spec)[name] if d != step.validates]
        if any(self.final(dep) is None for dep in others):
            return None
        return self._new_run(name, step, judged.round, self._tier(name, step), None)

    def _resubmit(self, name: str, step: StepSpec, run: StepRun) -> NewRun:
        reason = self.rejection(name) or ""
        next_round = run.round + 1
        if next_round >= self.spec.max_rounds:
            raise _Stop(
                f"step {name!r} was refused in all {self.spec.max_rounds} rounds; last: {reason}"
            )
        tier = step.escalate[run.round] if run.round < len(step.escalate) else run.tier
        return self._new_run(name, step, next_round, tier, reason)

    def _branch_taken(self, step: StepSpec) -> bool:
        assert step.when is not None
        return str(self._field(step.when.step, step.when.field)) in step.when.in_

    def _tier(self, name: str, step: StepSpec) -> str | None:
        chooser = step.tier_from
        if chooser is None:
            return step.tier
        value = str(self._field(chooser.step, chooser.field))
        tier = chooser.tiers.get(value, chooser.default)
        if tier is None:
            raise _Stop(
                f"step {name!r}: {chooser.step}.{chooser.field} is {value!r}, which"
                f" tier_from.tiers does not map (known: {', '.join(chooser.tiers)})"
            )
        return tier

    def _field(self, name: str, key: str) -> Any:
        run = self.latest(name)
        output = run.output if run is not None and isinstance(run.output, dict) else {}
        return output.get(key)

    def _new_run(
        self, name: str, step: StepSpec, round_: int, tier: str | None, feedback: str | None
    ) -> NewRun:
        values = {
            "input": dict(self.data),
            "steps": {
                n: self._values(n)
                for n in self.spec.steps
                if self.final(n) or n in (step.validates,)
            },
            "feedback": feedback or "",
            "round": round_,
        }
        try:
            request = step_request(name, step, values)
        except TemplateError as exc:
            raise _Stop(f"step {name!r}: {exc}") from exc
        needs = {**step.needs, **({"tier": tier} if tier else {"model": step.model})}
        return NewRun(
            step=name,
            round=round_,
            job_id=step_job_id(self.pipeline_id, name, round_),
            tier=tier,
            model=None if tier else step.model,
            request=request,
            needs=needs,
            feedback=feedback,
        )

    def _values(self, name: str) -> dict[str, Any]:
        run = self.latest(name)
        if run is None or run.status == "skipped":
            return {
                "text": "",
                "output": {},
                "tier": "",
                "model": "",
                "provider": "",
                "cost_usd": 0.0,
            }
        return {
            "text": run.text or "",
            "output": run.output if run.output is not None else {},
            "tier": run.tier or "",
            "model": run.model or "",
            "provider": run.provider or "",
            "cost_usd": run.cost_usd,
        }


def step_request(name: str, step: StepSpec, values: Mapping[str, Any]) -> dict[str, Any]:
    """The chat request of a step round, its templates rendered; raises TemplateError."""
    messages: list[dict[str, Any]] = []
    if step.system is not None:
        messages.append({"role": "system", "content": render(step.system, values)})
    messages.append({"role": "user", "content": render(step.prompt, values)})
    request: dict[str, Any] = {"messages": messages}
    schema = output_schema(step)
    if schema is not None:
        request["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": name.replace("-", "_"), "schema": schema},
        }
    if step.max_tokens is not None:
        request["max_tokens"] = step.max_tokens
    if step.temperature is not None:
        request["temperature"] = step.temperature
    return request


def output_schema(step: StepSpec) -> dict[str, Any] | None:
    if step.output_schema is not None:
        return step.output_schema
    return VERDICT_SCHEMA if step.validates is not None else None


def check_output(step: StepSpec, text: str | None) -> tuple[Any, str | None]:
    """A step's answer parsed as JSON when it has a schema, and what is wrong with it, if any."""
    schema = output_schema(step)
    if schema is None:
        return None, None
    try:
        value = json.loads(text or "")
    except json.JSONDecodeError as exc:
        return None, f"not JSON ({exc.msg} at character {exc.pos})"
    try:
        jsonschema.validate(value, schema)
    except jsonschema.ValidationError as exc:
        where = "/".join(str(part) for part in exc.absolute_path) or "(root)"
        return value, f"{where}: {exc.message}"
    return value, None
