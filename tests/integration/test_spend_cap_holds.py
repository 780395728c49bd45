"""A spend cap reached for now holds a job (issue 14 item 4), with a deadline or without: it
waits without a call until the cap's window allows it (answered then), its deadline passes, or
it was held for CASCADE_SPEND_HOLD_MAX_S (ended then, never called, saying why). A job whose
only route is capped for now is accepted at submit and held, not refused; one whose call a cap
can never allow is refused at submit, naming why. While it waits, its one hold entry (reason,
first and last time, count) shows in ``GET /v1/jobs/{id}`` and ``cascade status``. The cap is
filled by writing the day's spend, and the window "rolls over" by deleting it, which is what a
new day looks like to the reserve script. Real worker, real emulator, a private Redis."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from broker.cli import main
from broker.jobs import AttemptOutcome, CompletionResult, FailedResult
from broker.keys import Keys
from broker.local_stack import LocalStack
from broker.submit_errors import SubmitError
from routing.usage import day_period
from tests.integration.support import (
    FAST_ENV,
    Emulator,
    api_server,
    catalog_with_daily_cap,
    client_for,
    wait_for,
)

pytestmark = pytest.mark.integration

PROMPT = {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 20}
NEEDS = {"tier": "fast", "allowed_providers": ["alpha"]}  # alpha is the route's only target
CAP_USD = 0.01
KEY = "sk-holds-default"
# Looks close together, so that a cap freed by the test is seen within a second.
LOOKS = {"CASCADE_HOLD_S": "0.2", "CASCADE_SPEND_HOLD_LOOK_MAX_S": "1"}


def job(deadline_s: float) -> dict[str, object]:
    deadline = (datetime.now(UTC) + timedelta(seconds=deadline_s)).isoformat()
    return {"needs": NEEDS, "request": PROMPT, "envelope": {"deadline": deadline}}


@pytest.mark.system
def test_a_capped_provider_holds_jobs_with_a_deadline_until_the_cap_allows_or_it_passes(
    tmp_path: Path,
) -> None:
    catalog = catalog_with_daily_cap(tmp_path, "alpha", CAP_USD)
    with LocalStack(config=catalog, log_dir=tmp_path, extra_env={**FAST_ENV, **LOOKS}) as stack:
        stack.start_redis()
        stack.start_emulator()
        emulator = Emulator(stack.emulator_url)
        with client_for(stack, catalog) as client:
            # Submitted before the cap is used up and before a worker runs, so that both jobs
            # meet the cap at their call.
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


def spent_today() -> str:
    return Keys().usage("provider", "alpha", day_period(datetime.now(UTC)))


def cli_status(stack: LocalStack, catalog: str, job_id: str) -> dict[str, object]:
    args = ["--config", catalog, "--profile", "emulated", "--redis-url", str(stack.redis_url)]
    ran = CliRunner().invoke(
        main, [*args, "status", job_id], env={"CASCADE_EMULATOR_URL": stack.emulator_url}
    )
    assert ran.exit_code == 0, ran.output
    view: dict[str, object] = json.loads(ran.output)
    return view


def test_a_job_without_a_deadline_whose_only_route_is_capped_is_accepted_held_shown_and_answered(
    tmp_path: Path,
) -> None:
    catalog = catalog_with_daily_cap(tmp_path, "alpha", CAP_USD)
    env = {**FAST_ENV, **LOOKS, "CASCADE_API_KEYS": f"default={KEY}"}
    with LocalStack(config=catalog, log_dir=tmp_path, extra_env=env) as stack:
        stack.start_redis()
        stack.start_emulator()
        emulator = Emulator(stack.emulator_url)
        with client_for(stack, catalog) as client, api_server(stack, "--no-webhooks") as api:
            client.redis.hset(spent_today(), "cost_nanos", int(CAP_USD * 1e9))
            # Capped before the submit: the planner sees it, and accepts the job to be held.
            [job_id] = client.submit_many([{"needs": NEEDS, "request": PROMPT}])
            stack.start_worker("alpha", concurrency=4)
            stack.wait_for_workers()

            def held_times() -> int:
                record = client.store.hold_record(job_id)
                return 0 if record is None else record.count

            wait_for(lambda: held_times() >= 3, 20, "three holds")
            assert client.get(job_id) is None  # held, not failed
            assert emulator.calls()["by_provider"] == {}  # and never called
            assert client.store.attempts(job_id) == []  # a hold is no attempt...
            auth = {"Authorization": f"Bearer {KEY}"}
            seen = httpx.get(f"{api}/v1/jobs/{job_id}", headers=auth, timeout=10).json()
            held = seen["held"]  # ...but the one entry that says why it waits
            assert seen["result"] is None and held["outcome"] == "held", seen
            assert held["error_class"] == "SpendCapReached", held
            assert "usd_per_day" in held["reason"] and held["target"] == "alpha/a1", held
            assert held["count"] >= 3 and held["last_at"] > held["first_at"], held
            shown = cli_status(stack, catalog, job_id)["held"]
            assert isinstance(shown, dict) and shown["count"] >= held["count"], shown

            client.redis.delete(spent_today())  # a new day: the cap allows calls again
            answered = client.wait(job_id, timeout=20)
        assert isinstance(answered, CompletionResult), answered
        assert [a.outcome for a in answered.attempts] == [AttemptOutcome.SUCCESS]
        assert emulator.answered() == 1


def test_a_job_without_a_deadline_is_held_for_a_cap_at_most_the_longest_hold_then_ends(
    tmp_path: Path,
) -> None:
    catalog = catalog_with_daily_cap(tmp_path, "alpha", CAP_USD)
    env = {**FAST_ENV, **LOOKS, "CASCADE_SPEND_HOLD_MAX_S": "2"}
    with LocalStack(config=catalog, log_dir=tmp_path, extra_env=env) as stack:
        stack.start_redis()
        stack.start_emulator()
        emulator = Emulator(stack.emulator_url)
        with client_for(stack, catalog) as client:
            client.redis.hset(spent_today(), "cost_nanos", int(CAP_USD * 1e9))
            [job_id] = client.submit_many([{"needs": NEEDS, "request": PROMPT}])
            started = time.monotonic()
            stack.start_worker("alpha", concurrency=4)
            ended = client.wait(job_id, timeout=30)
        assert isinstance(ended, FailedResult), ended
        assert time.monotonic() - started >= 2.0
        assert ended.error_class == "SpendCapReached"
        assert "CASCADE_SPEND_HOLD_MAX_S" in ended.error_message, ended.error_message
        assert "usd_per_day" in ended.error_message, ended.error_message
        assert emulator.calls()["by_provider"] == {}


def test_a_job_whose_call_a_cap_can_never_allow_is_refused_at_submit_saying_why(
    tmp_path: Path,
) -> None:
    # $0.000001 a day: the reservation of even a 20-token answer is above it, every day.
    catalog = catalog_with_daily_cap(tmp_path, "alpha", 0.000001)
    with LocalStack(config=catalog, log_dir=tmp_path, extra_env=FAST_ENV) as stack:
        stack.start_redis()
        stack.start_emulator()
        with client_for(stack, catalog) as client, pytest.raises(SubmitError) as refused:
            client.submit_many([{"needs": NEEDS, "request": PROMPT}])
        assert "needs" in str(refused.value)
        assert "can never allow this call" in str(refused.value), refused.value
        assert client.store.exists([]) == []
