"""Where a planned job is written: its own queue, or its provider's parking queue, and whether
it waits there for a cheaper price window (pure)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from broker.offload.choice import OffloadRules, WaitRules, parking_queue, place, wait_rules
from broker.settings import Settings
from routing.catalog import Catalog
from tests.routing.test_offload import NOW, TARGET, _catalog, _job

RULES = OffloadRules(margin=timedelta(minutes=30), min_wait=timedelta(hours=1))


def test_a_job_with_slack_is_parked_for_its_provider_ordered_by_its_fall_back_time() -> None:
    job = _job(deadline=NOW + timedelta(hours=6))
    where = place(job, TARGET, _catalog(), RULES, now=NOW)
    assert where.parked
    assert where.queue == parking_queue("alpha")
    assert where.deadline == (NOW + timedelta(hours=5, minutes=30)).timestamp()


def test_a_job_too_close_to_its_deadline_keeps_its_own_queue_with_the_reason() -> None:
    job = _job(deadline=NOW + timedelta(minutes=45))
    where = place(job, TARGET, _catalog(), RULES, now=NOW)
    assert not where.parked
    assert where.queue == "fast.alpha"
    assert job.envelope.deadline is not None
    assert where.deadline == job.envelope.deadline.timestamp()
    assert where.decision is not None and "not offloaded" in where.decision.reason


def test_without_rules_offloading_is_off_and_no_decision_is_made() -> None:
    job = _job(deadline=NOW + timedelta(hours=6))
    where = place(job, TARGET, _catalog(), None, now=NOW)
    assert (where.queue, where.decision) == ("fast.alpha", None)


def test_a_batch_job_without_a_deadline_is_parked_by_its_completion_window() -> None:
    where = place(_job(), TARGET, _catalog(), RULES, now=NOW,
                  completion_window=timedelta(hours=24))
    assert where.parked
    assert where.deadline == (NOW + timedelta(hours=23, minutes=30)).timestamp()


# --- price windows (routing/offpeak.py) -------------------------------------------------

WINDOWS = WaitRules(margin=timedelta(minutes=30), min_deadline=timedelta(hours=1),
                    min_saving=0.1)


def _windowed() -> Catalog:
    """The offload test catalog with a half-price window on a1 from 16:30 UTC (NOW is 12:00)."""
    data = _catalog().model_dump(mode="json")
    data["models"][0]["price_windows"] = [{"start": "16:30", "end": "00:30", "multiplier": 0.5}]
    return Catalog.model_validate(data)


def test_an_offloaded_job_does_not_also_wait_for_a_price_window() -> None:
    job = _job(deadline=NOW + timedelta(hours=6))
    where = place(job, TARGET, _windowed(), RULES, now=NOW, windows=WINDOWS)
    assert where.parked and where.offpeak is None and where.not_before is None


def test_a_job_not_offloaded_waits_in_its_own_queue_for_its_window() -> None:
    job = _job(deadline=NOW + timedelta(hours=6), offload="never")
    where = place(job, TARGET, _windowed(), RULES, now=NOW, windows=WINDOWS)
    assert not where.parked and where.queue == "fast.alpha"
    assert where.offpeak is not None and where.offpeak.wait
    assert where.not_before == (NOW + timedelta(hours=4, minutes=30)).timestamp()
    alone = place(job, TARGET, _windowed(), None, now=NOW, windows=WINDOWS)  # offloading off
    assert alone.not_before == where.not_before and alone.decision is None


def test_without_windows_on_its_target_no_wait_decision_is_made() -> None:
    job = _job(deadline=NOW + timedelta(hours=6), offload="never")
    assert place(job, TARGET, _catalog(), RULES, now=NOW, windows=WINDOWS).offpeak is None


def test_the_window_rules_follow_the_settings_and_the_catalog() -> None:
    settings = Settings(offpeak_margin_s=60, offpeak_min_deadline_s=900, offpeak_min_saving=0.2,
                        api_max_wait_s=300, result_ttl_s=86400)
    rules = wait_rules(settings, _windowed())
    assert rules == WaitRules(margin=timedelta(minutes=1), min_deadline=timedelta(minutes=15),
                              min_saving=0.2, horizon=timedelta(hours=12))
    assert wait_rules(settings, _catalog()) is None  # no model has windows
    assert wait_rules(Settings(offpeak_enabled=False), _windowed()) is None


def test_a_job_a_synchronous_caller_waits_for_can_never_be_held_for_a_window() -> None:
    with pytest.raises(ValidationError, match="offpeak_min_deadline_s .* must be above "
                                              "api_max_wait_s"):
        Settings(offpeak_min_deadline_s=600, api_max_wait_s=600)
    Settings(offpeak_min_deadline_s=600, api_max_wait_s=600, offpeak_enabled=False)
