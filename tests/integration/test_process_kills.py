"""A SIGKILL of the API process mid-submit, and of a producer process mid-batch, loses nothing
(issue 14, Tests): every job the killed process stored is queued and ends with one result,
every job it acknowledged is among them, and submitting the same ids again (what a caller does
after a lost answer) runs only the missing ones. Real processes: ``cascade api`` under uvicorn,
a Python producer using ``CascadeClient``, a ``cascade worker``, Redis and the emulator.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

import httpx
import pytest

from broker.client import CascadeClient
from broker.local_stack import LocalStack
from tests.integration.support import Emulator, api_process, client_for, wait_for
from tests.integration.test_resilience import (
    CATALOG,
    PROMPT,
    assert_each_ended_once,
    cascade_stack,
    results_within,
)

pytestmark = pytest.mark.integration

API_KEY = "sk-kills-acme"


def stored(client: CascadeClient, ids: Sequence[str]) -> list[str]:
    pipe = client.redis.pipeline(transaction=False)
    for job_id in ids:
        pipe.exists(client.store.keys.job(job_id))
    return [job_id for job_id, found in zip(ids, pipe.execute(), strict=True) if found]


def assert_answered_once_each(emulator: Emulator, ids: Sequence[str]) -> None:
    answered = emulator.calls()["answered_by_job"]
    twice = {job: answered.get(job, 0) for job in ids if answered.get(job, 0) != 1}
    assert not twice, f"{len(twice)} jobs not answered exactly once, e.g. {list(twice.items())[:3]}"


def ends_once(stack: LocalStack, emulator: Emulator, ids: Sequence[str]) -> None:
    with client_for(stack, CATALOG) as client:
        assert_each_ended_once(client, ids, results_within(client, ids, timeout=120))
    assert_answered_once_each(emulator, ids)


# --- the API process ----------------------------------------------------------------------


def _submit_over_http(base: str, ids: Sequence[str], acknowledged: list[str]) -> None:
    """POST each job; stop at the first answer that never comes (the API was killed)."""
    headers = {"Authorization": f"Bearer {API_KEY}"}
    with httpx.Client(base_url=base, timeout=10, headers=headers) as http:
        for job_id in ids:
            body = {"needs": {"tier": "steady"}, "request": PROMPT, "envelope": {"id": job_id}}
            try:
                response = http.post("/v1/jobs", json=body)
            except httpx.TransportError:
                return
            assert response.status_code == 202, response.text
            acknowledged.append(job_id)


def _submit_from_threads(base: str, ids: Sequence[str], threads: int) -> list[str]:
    acknowledged: list[str] = []
    workers = [
        threading.Thread(target=_submit_over_http, args=(base, ids[n::threads], acknowledged))
        for n in range(threads)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    return acknowledged


def test_a_sigkilled_api_mid_submit_leaves_every_stored_job_queued_and_a_resubmit_runs_the_rest(
    tmp_path: Path,
) -> None:
    ids = [f"kill-api-{n:04d}" for n in range(400)]
    with cascade_stack(tmp_path) as (stack, emulator):
        stack.extra_env["CASCADE_API_KEYS"] = f"acme={API_KEY}"
        stack.start_worker("beta", concurrency=8)
        stack.wait_for_workers()
        with client_for(stack, CATALOG) as client:
            with api_process(stack, "--no-webhooks") as (base, process):
                acknowledged: list[str] = []
                submitting = threading.Thread(
                    target=lambda: acknowledged.extend(_submit_from_threads(base, ids, 4))
                )
                submitting.start()
                wait_for(lambda: len(stored(client, ids)) >= 60, 60, "60 jobs stored")
                os.killpg(process.pid, signal.SIGKILL)
                submitting.join(timeout=60)
            kept = stored(client, ids)
            assert set(acknowledged) <= set(kept)
            assert len(kept) < len(ids)  # killed mid-submit, not after it
            assert_each_ended_once(client, kept, results_within(client, kept, timeout=120))
            with api_process(stack, "--no-webhooks") as (base, _):
                assert sorted(_submit_from_threads(base, ids, 4)) == sorted(ids)
        ends_once(stack, emulator, ids)


# --- a producer process -------------------------------------------------------------------

PRODUCER = """
import json
import sys
import time
from broker.client import CascadeClient

prefix, count, chunk, prompt = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
job = {"needs": {"tier": "steady"}, "request": json.loads(prompt)}
client = CascadeClient.from_env()
for start in range(0, count, chunk):
    ids = [f"{prefix}-{n:05d}" for n in range(start, min(start + chunk, count))]
    client.submit_many([{**job, "envelope": {"id": job_id}} for job_id in ids])
    print("\\n".join(ids), flush=True)
    # Paced, so the kill lands mid-batch however fast the machine writes (3,000 jobs were once
    # all written between two looks of the test's wait).
    time.sleep(0.05)
"""


def _producer(stack: LocalStack, prefix: str, count: int, chunk: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", PRODUCER, prefix, str(count), str(chunk), json.dumps(PROMPT)],
        stdout=subprocess.PIPE,
        stderr=stack.log_path("producer").open("ab"),
        env=stack.env(),
        text=True,
    )


@pytest.mark.system
def test_a_sigkilled_producer_mid_batch_leaves_every_stored_job_queued_and_a_rerun_the_rest(
    tmp_path: Path,
) -> None:
    count, chunk = 3000, 100
    ids = [f"kill-producer-{n:05d}" for n in range(count)]
    with cascade_stack(tmp_path) as (stack, emulator):
        stack.start_worker("beta", concurrency=16)
        stack.wait_for_workers()
        with client_for(stack, CATALOG) as client:
            producer = _producer(stack, "kill-producer", count, chunk)
            wait_for(lambda: len(stored(client, ids)) >= 300, 60, "300 jobs stored")
            producer.send_signal(signal.SIGKILL)
            printed, _ = producer.communicate(timeout=30)
            acknowledged = printed.split()
            kept = stored(client, ids)
            assert set(acknowledged) <= set(kept)
            assert len(kept) < count  # killed mid-batch, not after it
            assert len(kept) % chunk == 0  # whole chunks: a record never without its queue entry
            assert_each_ended_once(client, kept, results_within(client, kept, timeout=120))
            rerun = _producer(stack, "kill-producer", count, chunk)
            assert rerun.wait(timeout=120) == 0
        ends_once(stack, emulator, ids)
