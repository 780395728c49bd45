"""What a job's status tells of its offload, from what Redis holds (pure): nothing when no
decision was weighed, the decision's reason always, then parked, in a provider batch (its id
and state), answered by it, or fallen back and why."""

from __future__ import annotations

from datetime import UTC, datetime

from broker.jobs import Attempt, AttemptOutcome, CompletionResult, TargetRef
from broker.offload.status import offload_view

OFFLOADED = "offloaded to alpha's batch API for a1: the deadline is 2h00m away; ..."
TARGET = TargetRef(
    tier="fast", provider="alpha", model="a1", model_id="alpha-1", queue="fast.alpha"
)


def result(worker: str) -> CompletionResult:
    attempt = Attempt(target=TARGET, hop=0, number=1, started_at=datetime.now(UTC),
                      duration_s=1.0, outcome=AttemptOutcome.SUCCESS, worker=worker)
    return CompletionResult.model_validate({
        "id": "chatcmpl-1", "created": 0, "model": "a1", "job_id": "j1", "provider": "alpha",
        "tier": "fast", "choices": [], "attempts": [attempt.model_dump()], "cost_usd": 0.0,
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        "finished_at": datetime.now(UTC)})


def test_a_job_without_a_weighed_decision_shows_no_offload() -> None:
    assert offload_view({}, None, None) is None


def test_a_job_that_may_not_wait_shows_why() -> None:
    view = offload_view({"offload": "not offloaded: the deadline is 0m10s away"}, None, None)
    assert view == {"offloaded": False, "reason": "not offloaded: the deadline is 0m10s away",
                    "state": "not_offloaded"}


def test_a_parked_job_then_one_in_a_provider_batch_shows_its_id_and_state() -> None:
    assert offload_view({"offload": OFFLOADED}, None, None) == {
        "offloaded": True, "reason": OFFLOADED, "state": "parked"}
    record = {"provider": "alpha", "batch_id": "batch_1", "submitted_at": "t",
              "provider_state": "in_progress (1/4 lines done)", "webhook": "batch.completed"}
    view = offload_view({"offload": OFFLOADED}, record, None)
    assert view is not None
    assert (view["state"], view["provider_batch_id"], view["provider_state"], view["webhook"]) == (
        "in_provider_batch", "batch_1", "in_progress (1/4 lines done)", "batch.completed")
    submitting = offload_view({"offload": OFFLOADED}, {"provider": "alpha"}, None)
    assert submitting is not None and submitting["state"] == "submitting"


def test_a_job_answered_by_its_provider_batch_names_it() -> None:
    view = offload_view({"offload": OFFLOADED}, None, result("offload:alpha:batch_1"))
    assert view is not None
    assert (view["state"], view["provider"], view["provider_batch_id"]) == (
        "answered", "alpha", "batch_1")


def test_a_job_that_fell_back_says_why_and_which_provider_batch_it_left() -> None:
    fields = {"offload": OFFLOADED, "offload_fallback": "the provider batch line ended expired",
              "offload_batch": "batch_1"}
    view = offload_view(fields, None, result("worker-1@host"))
    assert view is not None
    assert (view["state"], view["fallback_reason"], view["provider_batch_id"]) == (
        "fell_back", "the provider batch line ended expired", "batch_1")
