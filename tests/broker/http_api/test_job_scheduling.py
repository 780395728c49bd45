"""``GET /v1/jobs/{id}`` shows where the submit put a job: held for a cheaper price window
(with when it joins its queue), or run now and why; nothing for a job nothing was decided for.
The app runs in process on a real Redis, without workers, so the jobs stay queued."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml
from starlette.testclient import TestClient

from broker.catalog_file import load_catalog
from broker.client import CascadeClient
from broker.http_api import TenantDirectory, create_app
from broker.settings import Settings
from tests.broker.http_api.conftest import AUTH_A, CATALOG, KEY_A

pytestmark = pytest.mark.integration

OPENS = (datetime.now(UTC) + timedelta(hours=1)).replace(microsecond=0)


@pytest.fixture()
def api(redis_url: str, tmp_path: Path) -> Iterator[TestClient]:
    data: dict[str, Any] = yaml.safe_load(Path(CATALOG).read_text())
    data["models"][0]["price_windows"] = [{
        "start": OPENS.strftime("%H:%M:%S"), "multiplier": 0.5,
        "end": (OPENS + timedelta(hours=2)).strftime("%H:%M:%S"),
    }]
    path = tmp_path / "catalog.yaml"
    path.write_text(yaml.safe_dump(data))
    url = redis_url.rsplit("/", 1)[0] + "/11"
    redis.Redis.from_url(url).flushdb()
    settings = Settings(redis_url=url, config=str(path), profile="emulated")
    tenants = TenantDirectory.from_keys({"acme": [KEY_A]})
    with closing(CascadeClient(settings, load_catalog(str(path), "emulated"))) as client:
        with TestClient(create_app(client, tenants, webhooks=False)) as http:
            yield http
        client.redis.flushdb()


def submit(api: TestClient, model: str, **envelope: Any) -> dict[str, Any]:
    deadline = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    body = {"needs": {"model": model}, "envelope": {"deadline": deadline, **envelope},
            "request": {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 5}}
    created = api.post("/v1/jobs", headers=AUTH_A, json=body)
    assert created.status_code == 202, created.text
    shown = api.get(f"/v1/jobs/{created.json()['id']}", headers=AUTH_A)
    assert shown.status_code == 200, shown.text
    view: dict[str, Any] = shown.json()
    return view


def test_a_job_held_for_its_window_shows_the_decision_and_when_it_joins_its_queue(
    api: TestClient,
) -> None:
    view = submit(api, "a1", priority="bulk")
    assert view["status"] == "queued"
    assert view["scheduling"]["offpeak"].startswith("waits for the off-peak window at ")
    assert view["scheduling"]["not_before"] == OPENS.isoformat()


def test_an_interactive_job_shows_why_it_runs_now_and_a_plain_one_shows_nothing(
    api: TestClient,
) -> None:
    urgent = submit(api, "a1", priority="interactive")
    assert urgent["scheduling"] == {
        "offpeak": "runs now: interactive jobs never wait for a price window"}
    assert "scheduling" not in submit(api, "b1", priority="bulk")  # b1 has no windows
