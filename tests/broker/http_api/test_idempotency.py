"""An Idempotency-Key names one job per tenant; the same key on another request is refused."""

from __future__ import annotations

import pytest

from broker.http_api.errors import ApiError
from broker.http_api.idempotency import check_same_request, idempotent_job_id
from broker.ids import check_id
from broker.jobs import CompletionJob, JobStatus
from broker.store import StoredJob


def _job(content: str, job_id: str = "idem-x") -> CompletionJob:
    return CompletionJob.model_validate(
        {
            "envelope": {"id": job_id},
            "needs": {"tier": "fast"},
            "request": {"messages": [{"role": "user", "content": content}]},
        }
    )


def _stored(job: CompletionJob) -> StoredJob:
    return StoredJob(job=job, route=[], status=JobStatus.QUEUED, hop=0)


def test_the_same_key_names_the_same_job_and_another_tenant_s_key_another() -> None:
    first = idempotent_job_id("acme", "retry-1")
    assert first is not None and first == idempotent_job_id("acme", "retry-1")
    assert first != idempotent_job_id("other", "retry-1")
    assert first != idempotent_job_id("acme", "retry-2")
    assert check_id(first) == first  # a valid job id: no ':' to spell another key


def test_no_key_leaves_the_job_id_to_the_store() -> None:
    assert idempotent_job_id("acme", None) is None


@pytest.mark.parametrize("key", ["", "x" * 256, "bad\nkey", "clé"])
def test_an_unusable_key_is_a_400_naming_the_header(key: str) -> None:
    with pytest.raises(ApiError) as refused:
        idempotent_job_id("acme", key)
    assert refused.value.status == 400 and "idempotency-key" in str(refused.value.message)


def test_a_retry_of_the_same_request_is_accepted() -> None:
    check_same_request(_stored(_job("hi")), _job("hi"))
    check_same_request(None, _job("hi"))


def test_the_same_key_on_another_request_is_a_422() -> None:
    with pytest.raises(ApiError) as refused:
        check_same_request(_stored(_job("hi")), _job("bye"))
    assert refused.value.status == 422
