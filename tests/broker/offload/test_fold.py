"""A batch line's answer as the job's result: one attempt, the batch price, the saving (pure)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from adapters.base import ParsedResponse
from broker.jobs import Choice, ResponseMessage, Usage
from broker.offload.fold import fold_answer
from tests.routing.test_offload import NOW, TARGET, _catalog, _job


def test_an_answered_line_costs_the_batch_price_and_records_what_it_saved() -> None:
    model = _catalog().model("a1")  # 0.10/0.40 synchronous, 0.05/0.20 batch
    answer = ParsedResponse(
        id="chatcmpl-1", model="alpha-small-1", created=1,
        choices=[Choice(index=0, message=ResponseMessage(content="ok"), finish_reason="stop")],
        usage=Usage(prompt_tokens=1_000_000, completion_tokens=1_000_000,
                    total_tokens=2_000_000),
    )
    job = _job(deadline=NOW + timedelta(hours=6))
    folded = fold_answer(job, TARGET, model, answer, submitted_at=NOW,
                         finished_at=NOW + timedelta(minutes=5), worker="offload:alpha:b1")
    assert folded.result.cost_usd == pytest.approx(0.25)
    assert folded.saved_usd == pytest.approx(0.25)
    assert folded.result.job_id == job.id
    [attempt] = folded.result.attempts
    assert (attempt.outcome.value, attempt.worker, attempt.duration_s) == (
        "success", "offload:alpha:b1", 300.0)
