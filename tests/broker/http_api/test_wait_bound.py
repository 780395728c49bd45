"""A synchronous caller's wait bounds its job, unless the caller asks the job to go on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from broker.http_api.errors import ApiError
from broker.http_api.wait_bound import job_deadline

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def test_by_default_the_job_s_deadline_is_the_end_of_the_wait() -> None:
    assert job_deadline(NOW, 30, None) == NOW + timedelta(seconds=30)
    assert job_deadline(NOW, 30, "stop") == NOW + timedelta(seconds=30)


def test_on_timeout_continue_submits_the_job_without_a_deadline() -> None:
    assert job_deadline(NOW, 30, "Continue") is None


def test_another_on_timeout_value_is_a_400_naming_the_header() -> None:
    with pytest.raises(ApiError) as refused:
        job_deadline(NOW, 30, "later")
    assert refused.value.status == 400
    assert "x-cascade-on-timeout" in str(refused.value.message)
