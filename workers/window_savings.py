"""The saving of an answered call priced by a time-of-day window, as part of the call's
bookkeeping round trip (``routing/window_savings.py`` says what is counted)."""

from __future__ import annotations

from broker.jobs import CompletionJob, Usage
from broker.script_batch import ScriptCall
from routing.catalog import ModelConfig
from routing.window_savings import saving_calls as _saving_calls
from workers.context import WorkerContext

__all__ = ["saving_calls"]


def saving_calls(
    context: WorkerContext, job: CompletionJob, model: ModelConfig, usage: Usage, cost_usd: float
) -> list[ScriptCall[int]]:
    """Nothing for a model without price windows (one attribute read), else the counter's
    addition when the call's price differs from the one when its job was submitted."""
    if not model.price_windows:
        return []
    return _saving_calls(context.savings, context.catalog, job, model, usage, cost_usd)
