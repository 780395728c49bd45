"""The HTTP status a failed job is answered with on /v1/chat/completions."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from broker.http_api.openai_routes import failed_status
from broker.jobs import FailedResult


def _failed(error_class: str) -> FailedResult:
    return FailedResult(
        job_id="j1",
        error_class=error_class,
        error_message="the provider's safety system refused the request: flagged",
        attempts=[],
        finished_at=datetime.now(UTC),
    )


def test_a_content_filter_refusal_is_a_400_not_a_gateway_error() -> None:
    assert failed_status(_failed("ContentBlocked")) == 400


@pytest.mark.parametrize(
    ("error_class", "status"),
    [("InvalidRequest", 400), ("ContextTooLong", 400), ("ServerError", 502), ("Overloaded", 502)],
)
def test_the_request_s_faults_are_400_and_the_providers_502(error_class: str, status: int) -> None:
    assert failed_status(_failed(error_class)) == status
