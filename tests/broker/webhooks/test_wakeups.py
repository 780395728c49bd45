"""What a job event tells the dispatcher to look at: pure."""

from __future__ import annotations

from broker.webhooks.wakeups import subjects_of_event


def test_only_a_final_job_event_names_the_job_and_its_batch() -> None:
    assert subjects_of_event('{"job_id": "j", "status": "succeeded", "batch_id": "b"}') == (
        "job:j", "batch:b",
    )
    assert subjects_of_event('{"job_id": "j", "status": "failed", "batch_id": null}') == ("job:j",)
    assert subjects_of_event('{"job_id": "j", "status": "running"}') == ()
    assert subjects_of_event("not json") == ()
