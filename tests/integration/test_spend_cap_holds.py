"""A spend cap reached for now holds a job that has a deadline (issue 14 item 4): it waits
without a call until the cap's window allows it (answered then) or its deadline passes (ended
then, never called). The cap is filled by writing the day's spend, and the window "rolls over"
by deleting it, which is what a new day looks like to the reserve script. Real worker, real
emulator, a private Redis."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from broker.jobs import AttemptOutcome, CompletionResult, FailedResult
from broker.keys import Keys
from broker.local_stack import LocalStack
from routing.usage import day_period
from tests.integration.support import FAST_ENV, Emulator, catalog_with_daily_cap, client_for

pytestmark = pytest.mark.integration

PROMPT = {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 20}
NEEDS = {"tier": "fast", "allowed_providers": ["alpha"]}  # alpha is the route's only target
CAP_USD = 0.01


def job(deadline_s: float) -> dict[str, object]:
    deadline = (datetime.now(UTC) + timedelta(seconds=deadline_s)).isoformat()
    return {"needs": NEEDS, "request": PROMPT, "envelope": {"deadline": deadline}}


def test_a_capped_provider_holds_jobs_with_a_deadline_until_the_cap_allows_or_it_passes(
    tmp_path: Path,
) -> None:
    catalog = catalog_with_daily_cap(tmp_path, "alpha", CAP_USD)
    with LocalStack(
        config=catalog, log_dir=tmp_path, extra_env={**FAST_ENV, "CASCADE_HOLD_S": "0.5"}
    ) as stack:
        stack.start_redis()
        stack.start_emulator()
        emulator = Emulator(stack.emulator_url)
        with client_for(stack, catalog) as client:
            # Submitted before the cap is used up (the planner refuses a capped target at
            # submit), and before a worker runs, so that both jobs meet the cap at their call.
            waits, runs_out = client.submit_many([job(60), job(12)])
            spent = Keys().usage("provider", "alpha", day_period(datetime.now(UTC)))
            client.redis.hset(spent, "cost_nanos", int(CAP_USD * 1e9))  # today's cap is used up
            stack.start_worker("alpha", concurrency=4)
            stack.wait_for_workers()

            time.sleep(1.0)
            assert client.store.results([waits, runs_out]) == {}  # held, not failed
            ended = client.wait(runs_out, timeout=20)  # its deadline passes while held
            assert isinstance(ended, FailedResult), ended
            assert ended.error_class in {"SpendCapReached", "DeadlineExceeded"}
            assert client.get(waits) is None  # still held: its deadline is further off
            assert emulator.calls()["by_provider"] == {}  # neither was called

            client.redis.delete(spent)  # a new day: the cap allows calls again
            answered = client.wait(waits, timeout=20)
        assert isinstance(answered, CompletionResult), answered
        assert [a.outcome for a in answered.attempts] == [AttemptOutcome.SUCCESS]
        assert emulator.answered() == 1
