"""``cascade pipeline status``: a pipeline as a tree of its steps and their rounds."""

from __future__ import annotations

from rich.markup import escape
from rich.tree import Tree

from broker.pipelines.records import StepRun
from broker.pipelines.state import PipelineRecord

__all__ = ["pipeline_tree"]


def pipeline_tree(record: PipelineRecord) -> Tree:
    """Each step, each of its rounds with tier, provider, model, attempts, cost and outcome."""
    result = record.result
    total = (
        result.cost_usd
        if result
        else sum(run.cost_usd for runs in record.runs.values() for run in runs)
    )
    head = f"pipeline {record.pipeline_id} [{record.status.value}] ${total:.6f}"
    if record.spec.name:
        head += f" ({record.spec.name})"
    if result and result.error:
        head += f": {result.error}"
    tree = Tree(escape(head))
    for name, step in record.spec.steps.items():
        role = f" validates {step.validates}" if step.validates else ""
        branch = tree.add(escape(f"{name}{role}"))
        rounds = record.runs.get(name, [])
        if not rounds:
            branch.add("waiting")
        for run in rounds:
            branch.add(escape(_round(run)))
    return tree


def _round(run: StepRun) -> str:
    if run.status == "skipped":
        return "skipped (branch not taken)"
    parts = [f"round {run.round}", run.status, f"tier {run.tier or '-'}"]
    if run.provider:
        parts.append(f"{run.provider}/{run.model}")
    parts += [f"attempts {run.attempts}", f"${run.cost_usd:.6f}", f"job {run.job_id}"]
    text = " · ".join(parts)
    if isinstance(run.output, dict) and "verdict" in run.output:
        text += f" · verdict {run.output['verdict']}"
    problem = run.error or run.schema_error
    return f"{text} · {problem}" if problem else text
