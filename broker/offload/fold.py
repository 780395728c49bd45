"""A provider batch line's answer as its job's ordinary result, at the batch price. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from adapters.base import ParsedResponse
from broker.jobs import (
    Attempt,
    AttemptOutcome,
    CompletionJob,
    CompletionResult,
    TargetRef,
)
from routing.catalog import ModelConfig
from routing.estimate import actual_cost_usd

__all__ = ["Folded", "batch_priced", "fold_answer"]


@dataclass(frozen=True, slots=True)
class Folded:
    result: CompletionResult
    attempt: Attempt
    saved_usd: float  # the synchronous price of the same usage, less what it cost


def batch_priced(model: ModelConfig) -> ModelConfig:
    """The model billed at its batch price (the synchronous one when it has none)."""
    if model.batch_price is None:
        return model
    return model.model_copy(update={"price": model.batch_price})


def fold_answer(
    job: CompletionJob,
    target: TargetRef,
    model: ModelConfig,
    answer: ParsedResponse,
    *,
    submitted_at: datetime,
    finished_at: datetime,
    worker: str,
) -> Folded:
    """The job's result from its line's answer: one attempt on the first hop, made through the
    provider's batch API (``worker`` names the poller and the provider batch)."""
    cost = actual_cost_usd(batch_priced(model), answer.usage)
    attempt = Attempt(
        target=target,
        hop=0,
        number=1,
        started_at=submitted_at,
        duration_s=max((finished_at - submitted_at).total_seconds(), 0.0),
        outcome=AttemptOutcome.SUCCESS,
        usage=answer.usage,
        cost_usd=cost,
        worker=worker,
    )
    result = CompletionResult(
        id=answer.id,
        created=answer.created,
        model=answer.model,
        choices=answer.choices,
        usage=answer.usage,
        system_fingerprint=answer.system_fingerprint,
        job_id=job.id,
        provider=target.provider,
        tier=target.tier,
        cost_usd=cost,
        attempts=[attempt],
        batch_id=job.envelope.batch_id,
        tenant=job.envelope.tenant,
        finished_at=finished_at,
    )
    saved = max(actual_cost_usd(model, answer.usage) - cost, 0.0)
    return Folded(result, attempt, saved)
