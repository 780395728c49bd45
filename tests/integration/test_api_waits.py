"""Waits hold no thread: one tenant's many waits leave another tenant's submit prompt, and past
its bound a tenant's next wait is a 429. ``cascade api`` runs as a real uvicorn process over a
real Redis; no worker runs, so every job stays queued and every wait lasts its whole timeout."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from broker.local_stack import LocalStack
from tests.integration.support import api_server

pytestmark = pytest.mark.integration

CATALOG = str(Path(__file__).parents[1] / "fixtures" / "catalog.yaml")
KEY_A, KEY_B = "sk-waits-acme", "sk-waits-globex"
# More waits than the 40 threads of the API's thread pool, and no more than one tenant may hold.
WAITS, BOUND = 45, 50
JOB = {
    "needs": {"tier": "fast"},
    "request": {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 5},
}


@pytest.fixture(scope="module")
def api(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = redis_url.rsplit("/", 1)[0] + "/12"
    redis.Redis.from_url(url).flushdb()
    env = {
        "CASCADE_API_KEYS": f"acme={KEY_A},globex={KEY_B}",
        "CASCADE_API_MAX_WAITS_PER_TENANT": str(BOUND),
        "CASCADE_EMULATOR_URL": "http://127.0.0.1:9",
    }
    logs = tmp_path_factory.mktemp("api-waits-logs")
    with (
        LocalStack(config=CATALOG, redis_url=url, log_dir=logs, extra_env=env) as stack,
        api_server(stack, "--no-webhooks") as base,
    ):
        yield base


async def _tenant_b_submits_while_a_waits(api: str) -> tuple[float, list[int], int, int]:
    limits = httpx.Limits(max_connections=200)
    async with httpx.AsyncClient(base_url=api, timeout=30, limits=limits) as http:
        auth_a = {"Authorization": f"Bearer {KEY_A}"}
        auth_b = {"Authorization": f"Bearer {KEY_B}"}
        job_id = (await http.post("/v1/jobs", json=JOB, headers=auth_a)).json()["id"]
        body = {"ids": [job_id], "timeout": 6}
        waits = [
            asyncio.create_task(http.post("/v1/jobs/wait", json=body, headers=auth_a))
            for _ in range(WAITS)
        ]
        more = [
            asyncio.create_task(http.get(f"/v1/jobs/{job_id}?wait=6", headers=auth_a))
            for _ in range(BOUND - WAITS)
        ]
        await asyncio.sleep(1.5)
        started = time.monotonic()
        submitted = await http.post("/v1/jobs", json=JOB, headers=auth_b)
        elapsed = time.monotonic() - started
        assert submitted.status_code == 202, submitted.text
        over = await http.post("/v1/jobs/wait", json=body, headers=auth_a)
        b_job = submitted.json()["id"]
        b_wait = await http.post("/v1/jobs/wait", json={"ids": [b_job]}, headers=auth_b)
        answered = await asyncio.gather(*waits, *more)
        return elapsed, [r.status_code for r in answered], over.status_code, b_wait.status_code


def test_one_tenants_45_waits_leave_another_tenants_submit_prompt_and_the_next_is_a_429(
    api: str,
) -> None:
    elapsed, waited, over, other = asyncio.run(_tenant_b_submits_while_a_waits(api))

    assert elapsed < 2.0
    assert waited == [200] * BOUND
    assert over == 429
    assert other == 200
