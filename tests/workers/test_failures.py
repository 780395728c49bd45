"""What a failed answer check leads to, run through the runner against a real Redis and the
emulator over HTTP (``workers/failures.py``'s ``invalid_answer``)."""

from __future__ import annotations

from typing import Any

import pytest
import redis

from broker.jobs import AttemptOutcome
from broker.local_stack import LocalStack
from routing.planner import plan
from tests.workers.runners import InProcessWorker
from workers.runner import JobRunner


@pytest.mark.integration
def test_an_answer_that_is_not_json_is_a_paid_reroute_to_the_next_tier_and_answered_there(
    redis_url: str,
) -> None:
    """The emulator answers in plain text, which a job asking for JSON refuses: the fast tier's
    call is recorded as a paid reroute and the job goes to the smart tier (hop 2), where the
    route has no tier left to go to and the answer stands."""
    private = redis_url.rsplit("/", 1)[0] + "/10"
    with redis.Redis.from_url(private) as fresh:
        fresh.flushdb()
    with LocalStack(redis_url=private) as stack:
        stack.start_emulator()
        worker = InProcessWorker.open(private, stack.emulator_url)
        client, store = worker.client, worker.store
        job = worker.submit(
            {
                "needs": {"tier": "fast", "validate_json_schema": True},
                "request": {"messages": [{"role": "user", "content": "answer in JSON"}]},
            }
        )
        route = list(plan(job, worker.catalog).targets)
        assert [target.model for target in route] == ["a1", "b1", "g1", "b2"]
        published: list[tuple[str, int, Any, float | None]] = []

        def publish(job_id: str, hop: int, where: Any, countdown: float | None) -> None:
            published.append((job_id, hop, where, countdown))

        keys, context = worker.keys, worker.context
        try:
            runner = JobRunner(context, publish, "alpha@test")
            first = runner.run(job.id, 0)
            assert first.kind == "reroute"
            assert [(hop, where.model) for _, hop, where, _ in published] == [(2, "g1")]
            loaded = store.load(job.id)
            assert loaded is not None and loaded.hop == 2
            (refused,) = store.attempts(job.id)
            assert refused.outcome is AttemptOutcome.REROUTE
            assert refused.error_class == "AnswerInvalid"
            assert (refused.error_message or "").startswith("the answer is not JSON")
            assert refused.usage is not None and refused.cost_usd and refused.cost_usd > 0
            assert client.exists(keys.call(job.id)) == 0  # the attempt took the call's mark

            assert runner.run(job.id, 2).kind == "succeeded"
            result = store.result(job.id)
            assert result is not None and [a.outcome for a in result.attempts] == [
                AttemptOutcome.REROUTE,
                AttemptOutcome.SUCCESS,
            ]
        finally:
            client.flushdb()
            worker.close()
