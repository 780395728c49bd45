"""Where a planned job is written: its own queue, or its provider's parking queue (pure)."""

from __future__ import annotations

from datetime import timedelta

from broker.offload.choice import OffloadRules, parking_queue, place
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
