"""A step round's record once its job ended, and the budget left for the rounds to come."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from broker.jobs import CompletionResult, FailedResult
from broker.pipelines.decisions import check_output
from broker.pipelines.records import StepRun
from broker.pipelines.spec import StepSpec

__all__ = ["budget_left", "settled_run", "spent"]


def settled_run(run: StepRun, step: StepSpec, result: CompletionResult | FailedResult) -> StepRun:
    """``run`` with what its job's final result says."""
    if isinstance(result, FailedResult):
        return run.model_copy(
            update={
                "status": "failed",
                "error": f"{result.error_class}: {result.error_message}",
                "cost_usd": sum(attempt.cost_usd for attempt in result.attempts),
                "attempts": len(result.attempts),
            }
        )
    text = result.choices[0].message.content if result.choices else None
    output, problem = check_output(step, text)
    return run.model_copy(
        update={
            "status": "succeeded",
            "provider": result.provider,
            "model": result.attempts[-1].target.model if result.attempts else result.model,
            "text": text,
            "output": output,
            "schema_error": problem,
            "cost_usd": result.cost_usd,
            "prompt_tokens": result.usage.prompt_tokens,
            "completion_tokens": result.usage.completion_tokens,
            "attempts": len(result.attempts),
        }
    )


def spent(runs: Mapping[str, Sequence[StepRun]]) -> float:
    """What the ended rounds cost."""
    return sum(run.cost_usd for run in _all(runs.values()) if run.status != "queued")


def budget_left(budget_usd: float | None, runs: Mapping[str, Sequence[StepRun]]) -> float | None:
    """The budget not spent by ended rounds nor held by queued ones (their cost caps)."""
    if budget_usd is None:
        return None
    held = sum(run.max_cost_usd or 0.0 for run in _all(runs.values()) if run.status == "queued")
    return budget_usd - spent(runs) - held


def _all(groups: Iterable[Sequence[StepRun]]) -> Iterable[StepRun]:
    for group in groups:
        yield from group
