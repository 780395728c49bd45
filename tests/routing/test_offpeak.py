"""The decision to hold a job for a cheaper price window of its first target (pure): who may
wait, for which window, and when the deadline or the job says no."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from broker.jobs import CompletionJob, TargetRef
from routing.catalog import Catalog
from routing.offpeak import WaitRules, decide_wait
from tests.routing.factories import catalog_data

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)  # a Tuesday
RULES = WaitRules(margin=timedelta(minutes=30), min_deadline=timedelta(hours=1),
                  min_saving=0.1)
A1 = TargetRef(provider="alpha", model="a1", model_id="alpha-small-1", tier="fast",
               queue="fast.alpha")
OFF_PEAK = {"start": "16:30", "end": "00:30", "multiplier": 0.5}


def _catalog(*windows: dict[str, Any], **changes: Any) -> Catalog:
    data = catalog_data()
    data["models"][0]["price_windows"] = list(windows or [OFF_PEAK])
    data.update(changes)
    return Catalog.model_validate(data)


def _job(*, deadline: timedelta | None = timedelta(hours=24), priority: str = "bulk",
         offpeak: str = "auto", tenant: str = "default", stream: bool = False) -> CompletionJob:
    envelope: dict[str, Any] = {"created_at": NOW.isoformat(), "tenant": tenant,
                                "priority": priority, "stream": stream}
    if deadline is not None:
        envelope["deadline"] = (NOW + deadline).isoformat()
    return CompletionJob.model_validate({
        "envelope": envelope,
        "needs": {"tier": "fast", "offpeak": offpeak},
        "request": {"messages": [{"role": "user", "content": "summarise the ledger"}],
                    "max_tokens": 100},
    })


def _decide(job: CompletionJob, catalog: Catalog | None = None, **kwargs: Any) -> Any:
    options: dict[str, Any] = {"now": NOW, "rules": RULES, **kwargs}
    return decide_wait(job, [A1], catalog or _catalog(), **options)


def test_a_job_that_may_wait_waits_for_the_off_peak_window_and_says_what_it_saves() -> None:
    decision = _decide(_job())
    assert decision.wait
    assert decision.until == datetime(2026, 12, 1, 16, 30, tzinfo=UTC)
    assert decision.saving == pytest.approx(0.5)
    assert decision.reason.startswith(
        "waits for the off-peak window at 16:30 UTC (in 4h30m), saves ~50%")


def test_a_batch_jobs_completion_window_is_its_deadline() -> None:
    decision = _decide(_job(deadline=None), completion_window=timedelta(hours=24))
    assert decision.wait and decision.until == datetime(2026, 12, 1, 16, 30, tzinfo=UTC)


def test_inside_the_window_already_a_job_runs_now() -> None:
    decision = _decide(_job(), now=datetime(2026, 12, 1, 17, 0, tzinfo=UTC))
    assert not decision.wait
    assert decision.reason == (
        "runs now: the off-peak window is in force until Wed 02 Dec 00:30 UTC, and nothing "
        "cheaper comes within 168h00m")


def test_with_no_cheaper_price_ahead_a_job_runs_now() -> None:
    decision = _decide(_job(), _catalog({"start": "12:30", "end": "13:00", "multiplier": 1.5}),
                       now=datetime(2026, 12, 1, 13, 0, tzinfo=UTC))
    assert decision.reason == "runs now: no cheaper price comes within 168h00m"


def test_a_window_starting_after_the_deadline_less_its_margin_is_not_waited_for() -> None:
    # the window opens 4h30m from now; the deadline leaves a start until 4h29m from now
    decision = _decide(_job(deadline=timedelta(hours=4, minutes=59)))
    assert not decision.wait
    assert decision.reason == (
        "runs now: the off-peak window at 16:30 UTC starts after 16:29 UTC, the latest start "
        "the deadline allows with its 30m00s margin")


def test_a_window_starting_exactly_at_the_latest_start_is_waited_for() -> None:
    decision = _decide(_job(deadline=timedelta(hours=5)))
    assert decision.wait and decision.until == datetime(2026, 12, 1, 16, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("job", "reason"),
    [
        (_job(priority="interactive"), "runs now: interactive jobs never wait for a price window"),
        (_job(stream=True), "runs now: a streamed job is read as it comes"),
        (_job(offpeak="never"), "runs now: the job opted out (needs.offpeak: never)"),
        (_job(deadline=None), "runs now: no deadline or completion window, so a caller waits"),
        (_job(deadline=timedelta(minutes=59)),
         "runs now: the deadline is 59m00s away, under the 1h00m a job must leave to wait for "
         "a price window"),
    ],
)
def test_jobs_that_may_not_wait_run_now_saying_why(job: CompletionJob, reason: str) -> None:
    decision = _decide(job)
    assert not decision.wait and decision.until is None
    assert decision.reason == reason


def test_a_tenant_that_opted_out_runs_now() -> None:
    catalog = _catalog(offpeak_opt_out_tenants=["acme"])
    decision = _decide(_job(tenant="acme"), catalog)
    assert decision.reason == "runs now: tenant 'acme' opted out of waiting for prices"


def test_a_model_without_windows_runs_now() -> None:
    data = catalog_data()
    decision = decide_wait(_job(), [A1], Catalog.model_validate(data), now=NOW, rules=RULES)
    assert decision.reason == "runs now: a1 has no time-of-day prices in the catalog"


def test_a_saving_under_the_threshold_is_not_worth_the_wait() -> None:
    decision = _decide(_job(), _catalog({"start": "16:30", "end": "00:30", "multiplier": 0.95}))
    assert not decision.wait and decision.reason.startswith("runs now: no cheaper price")


def test_a_job_in_a_peak_window_waits_for_the_catalog_price_after_it() -> None:
    peak = {"start": "11:00", "end": "14:00", "multiplier": 2}
    decision = _decide(_job(), _catalog(peak))
    assert decision.wait and decision.until == datetime(2026, 12, 1, 14, 0, tzinfo=UTC)
    assert decision.reason.startswith(
        "waits for the catalog price after the peak window at 14:00 UTC (in 2h00m), saves ~50%")


def test_the_cheapest_reachable_window_wins_and_then_the_earliest() -> None:
    windows = (
        {"start": "13:00", "end": "14:00", "multiplier": 0.8, "name": "lunch"},
        {"start": "18:00", "end": "19:00", "multiplier": 0.4, "name": "evening"},
        {"start": "02:00", "end": "03:00", "multiplier": 0.4, "name": "night"},
    )
    decision = _decide(_job(), _catalog(*windows))
    assert decision.until == datetime(2026, 12, 1, 18, 0, tzinfo=UTC)
    assert "the evening window" in decision.reason
    early = _decide(_job(deadline=timedelta(hours=6)), _catalog(*windows))
    assert early.until == datetime(2026, 12, 1, 13, 0, tzinfo=UTC)  # evening is past reach


def test_a_window_in_another_zone_and_on_some_days_is_found_across_the_weekend() -> None:
    # DeepSeek's 2026 peak: 09:00-12:00 and 14:00-18:00 Beijing time, Monday to Friday, x2
    peak = [
        {"start": "09:00", "end": "12:00", "tz": "Asia/Shanghai",
         "days": ["mon", "tue", "wed", "thu", "fri"], "multiplier": 2},
        {"start": "14:00", "end": "18:00", "tz": "Asia/Shanghai",
         "days": ["mon", "tue", "wed", "thu", "fri"], "multiplier": 2},
    ]
    friday_peak = datetime(2026, 12, 4, 7, 0, tzinfo=UTC)  # 15:00 in Beijing
    decision = _decide(_job(deadline=timedelta(days=4)), _catalog(*peak), now=friday_peak)
    assert decision.wait and decision.until == datetime(2026, 12, 4, 10, 0, tzinfo=UTC)


def test_the_horizon_bounds_how_far_ahead_a_job_waits() -> None:
    weekly = {"start": "12:00", "end": "13:00", "days": ["mon"], "multiplier": 0.5}
    short = WaitRules(margin=timedelta(minutes=30), min_deadline=timedelta(hours=1),
                      min_saving=0.1, horizon=timedelta(days=2))
    far = _decide(_job(deadline=timedelta(days=10)), _catalog(weekly), rules=short)
    assert not far.wait
    near = _decide(_job(deadline=timedelta(days=10)), _catalog(weekly))
    assert near.until == datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
    assert "Mon 07 Dec 12:00 UTC" in near.reason
