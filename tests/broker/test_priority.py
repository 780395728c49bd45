"""A job's priority, from every way in: the Python client, the CLI, ``/v1/jobs``, the
OpenAI-compatible endpoint (header or ``metadata``) and a batch (lines default to bulk). Each
ends up in the job's envelope and in the scheduler's set of that priority. Real Redis, no
worker: nothing here has to run."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from starlette.testclient import TestClient

from broker.batches import Batches, BatchInputError, parse_batch_lines
from broker.catalog_file import load_catalog
from broker.client import CascadeClient, SubmitError
from broker.http_api.app import create_app
from broker.http_api.tenants import TenantDirectory
from broker.jobs import CompletionJob, Priority
from broker.settings import Settings
from tests.broker.test_cli import cascade
from tests.queued import text

pytestmark = pytest.mark.integration

CATALOG = str(Path(__file__).parents[1] / "fixtures" / "catalog.yaml")
PROMPT = {"messages": [{"role": "user", "content": "Hi"}]}
ACME = {"Authorization": "Bearer sk-acme"}


@pytest.fixture()
def url(redis_url: str) -> Iterator[str]:
    own = redis_url.rsplit("/", 1)[0] + "/2"
    redis.Redis.from_url(own).flushdb()
    yield own
    redis.Redis.from_url(own).flushdb()


@pytest.fixture()
def client(url: str) -> Iterator[CascadeClient]:
    # Every submit waits in the scheduler here (the fast path onto an idle queue's list is off:
    # tests/broker/scheduler/test_direct.py), so each job's waiting set can be read.
    settings = Settings(redis_url=url, config=CATALOG, profile="emulated", dispatch_direct=False)
    client = CascadeClient(settings, load_catalog(CATALOG, "emulated"))
    yield client
    client.close()


def priority_of(client: CascadeClient, job_id: str) -> Priority:
    stored = client.store.load(job_id)
    assert stored is not None
    return stored.job.envelope.priority


def waiting_ids(client: CascadeClient, priority: str, tenant: str = "default") -> list[str]:
    key = client.keys.sched_waiting("fast.alpha", priority, tenant)
    return [text(item) for item in client.redis.zrange(key, 0, -1)]


def test_a_job_is_standard_unless_it_says_otherwise() -> None:
    job = CompletionJob.model_validate({"needs": {"tier": "fast"}, "request": PROMPT})
    assert job.envelope.priority is Priority.STANDARD


def test_an_unknown_priority_is_refused_naming_envelope_priority(client: CascadeClient) -> None:
    with pytest.raises(SubmitError, match=r"envelope\.priority"):
        client.submit(PROMPT, tier="fast", priority="urgent")
    assert client.redis.dbsize() == 0


def test_the_client_priority_lands_in_the_envelope_and_that_priority_s_waiting_set(
    client: CascadeClient,
) -> None:
    job_id = client.submit(PROMPT, tier="fast", priority="interactive")

    assert priority_of(client, job_id) is Priority.INTERACTIVE
    assert waiting_ids(client, "interactive") == [job_id]
    assert waiting_ids(client, "standard") == []


def test_cascade_submit_priority_sets_the_job_s_priority(client: CascadeClient, url: str) -> None:
    shown = cascade("submit", "--tier", "fast", "--priority", "bulk", "hello", redis_url=url)

    assert shown.returncode == 0, shown.stderr
    assert priority_of(client, shown.stdout.strip()) is Priority.BULK


def test_batch_lines_are_bulk_by_default_and_take_the_batch_s_priority(
    client: CascadeClient,
) -> None:
    catalog = client.catalog
    line = json.dumps(
        {
            "custom_id": "r1",
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {"model": "fast", **PROMPT},
        }
    )
    [default] = parse_batch_lines([line], catalog, batch_id="b1")
    [chosen] = parse_batch_lines([line], catalog, batch_id="b1", priority="standard")
    assert default.job.envelope.priority is Priority.BULK
    assert chosen.job.envelope.priority is Priority.STANDARD
    with pytest.raises(BatchInputError, match=r"metadata\.priority: 'soon' is not a priority"):
        parse_batch_lines([line], catalog, batch_id="b1", priority="soon")

    batches = Batches(client)
    batches.submit_lines([line], batch_id="nightly", metadata={"priority": "interactive"})
    assert priority_of(client, "nightly-1") is Priority.INTERACTIVE


@pytest.fixture()
def api(client: CascadeClient) -> Iterator[TestClient]:
    tenants = TenantDirectory.from_keys({"acme": ["sk-acme"]})
    app = create_app(client, tenants, webhooks=False, default_timeout_s=0.05)
    with TestClient(app) as test_client:
        yield test_client


def test_v1_jobs_takes_the_priority_from_the_envelope(
    api: TestClient, client: CascadeClient
) -> None:
    body = {"needs": {"tier": "fast"}, "request": PROMPT, "envelope": {"priority": "bulk"}}
    answer = api.post("/v1/jobs", json=body, headers=ACME)

    assert answer.status_code == 202, answer.text
    assert priority_of(client, answer.json()["id"]) is Priority.BULK


def test_the_openai_endpoint_takes_the_header_or_metadata_priority_and_keeps_it_from_the_provider(
    api: TestClient, client: CascadeClient
) -> None:
    body = {"model": "fast", **PROMPT}
    by_header = api.post(
        "/v1/chat/completions", json=body, headers={**ACME, "x-cascade-priority": "interactive"}
    )
    with_metadata = {**body, "metadata": {"priority": "bulk", "team": "search"}}
    by_metadata = api.post("/v1/chat/completions", json=with_metadata, headers=ACME)
    refused = api.post(
        "/v1/chat/completions", json=body, headers={**ACME, "x-cascade-priority": "asap"}
    )

    header_job = by_header.headers["x-cascade-job-id"]
    metadata_job = by_metadata.headers["x-cascade-job-id"]
    assert priority_of(client, header_job) is Priority.INTERACTIVE
    assert priority_of(client, metadata_job) is Priority.BULK
    stored = client.store.load(metadata_job)
    assert stored is not None and stored.job.request.metadata == {"team": "search"}
    assert refused.status_code == 400
    assert refused.json()["error"]["param"] == "x-cascade-priority"
