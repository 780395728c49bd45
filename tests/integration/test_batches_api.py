"""Batches, delivery and the HTTP API on real parts: a real Redis, ``cascade worker`` processes,
the emulator, and ``cascade api`` as a real uvicorn process, driven by the official ``openai``
SDK, an SSE reader and a webhook receiver."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import redis

from broker.local_stack import LocalStack
from broker.webhooks import DELIVERY_HEADER, SIGNATURE_HEADER, verify_signature
from tests.integration.support import api_server, wait_for
from tests.queued import queued

pytestmark = pytest.mark.integration

CATALOG = str(Path(__file__).parents[1] / "fixtures" / "catalog.yaml")
KEY_A, KEY_B = "sk-test-acme", "sk-test-globex"
SECRET_A = "whsec-acme-test"
API_ENV = {
    "CASCADE_API_KEYS": f"acme={KEY_A},globex={KEY_B}",
    "CASCADE_WEBHOOK_SECRETS": f"acme={SECRET_A}",
    # The receiver listens on 127.0.0.1, which webhook targets may not be unless allowed.
    "CASCADE_WEBHOOK_ALLOW": "127.0.0.1/32",
}


def request_line(custom_id: str, model: str = "fast", content: Any = "Say hello.") -> str:
    body = {"model": model, "messages": [{"role": "user", "content": content}], "max_tokens": 20}
    return json.dumps(
        {"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions", "body": body}
    )


@pytest.fixture(scope="module")
def stack(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    # A database of its own: Celery's queue names are not prefixed, so other tests' workers
    # must never see these jobs.
    url = redis_url.rsplit("/", 1)[0] + "/6"
    redis.Redis.from_url(url).flushdb()
    logs = tmp_path_factory.mktemp("batch-stack-logs")
    with LocalStack(config=CATALOG, redis_url=url, log_dir=logs, extra_env=API_ENV) as s:
        s.start_redis()
        s.start_emulator()
        for provider in ("alpha", "beta", "gamma"):
            s.start_worker(provider, concurrency=16)
        s.wait_for_workers()
        yield s


@pytest.fixture(scope="module")
def api(stack: LocalStack) -> Iterator[str]:
    with api_server(stack) as base:
        yield base


@pytest.fixture()
def emulator(stack: LocalStack) -> Iterator[str]:
    httpx.post(f"{stack.emulator_url}/_emulator/reset").raise_for_status()
    yield stack.emulator_url
    httpx.post(f"{stack.emulator_url}/_emulator/reset").raise_for_status()


@pytest.fixture()
def sdk(api: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{api}/v1", api_key=KEY_A, max_retries=0)


class Receiver:
    """A webhook endpoint: records every POST's headers and raw body."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.received.append((dict(self.headers), body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture()
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.server.shutdown()


def _upload(sdk: openai.OpenAI, lines: list[str]) -> str:
    uploaded = sdk.files.create(file=("in.jsonl", "\n".join(lines).encode()), purpose="batch")
    return uploaded.id


def test_the_openai_sdk_uploads_creates_polls_and_downloads_a_batch(
    sdk: openai.OpenAI, emulator: str
) -> None:
    lines = [request_line(f"req-{i}", "fast" if i % 2 else "smart") for i in range(25)]
    file_id = _upload(sdk, lines)

    created = sdk.batches.create(
        input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    assert created.status == "in_progress" and created.request_counts is not None
    assert created.request_counts.total == 25
    batch = created
    deadline = time.monotonic() + 60
    while batch.status != "completed" and time.monotonic() < deadline:
        time.sleep(0.3)
        batch = sdk.batches.retrieve(created.id)

    assert batch.status == "completed" and batch.completed_at is not None
    assert batch.request_counts is not None and batch.request_counts.completed == 25
    assert batch.output_file_id is not None
    text = sdk.files.content(batch.output_file_id).text
    output = [json.loads(item) for item in text.splitlines()]
    assert sorted(item["custom_id"] for item in output) == sorted(f"req-{i}" for i in range(25))
    assert {item["response"]["status_code"] for item in output} == {200}
    assert all(item["response"]["body"]["choices"][0]["message"]["content"] for item in output)
    # No request failed: OpenAI leaves error_file_id null then, and so does cascade.
    assert batch.error_file_id is None
    output_file = sdk.files.retrieve(batch.output_file_id)
    assert output_file.purpose == "batch_output" and output_file.bytes == len(text.encode())
    assert created.id in [item.id for item in sdk.batches.list()]


def test_a_jsonl_file_broken_at_line_57_is_refused_whole_naming_line_57(
    sdk: openai.OpenAI, stack: LocalStack
) -> None:
    lines = [request_line(f"req-{i}") for i in range(1, 101)]
    lines[56] = request_line("req-57", content=57)
    queued_before = queued(redis.Redis.from_url(str(stack.redis_url)), "fast.alpha")

    with pytest.raises(openai.BadRequestError) as refused:
        sdk.batches.create(
            input_file_id=_upload(sdk, lines),
            endpoint="/v1/chat/completions",
            completion_window="24h",
        )

    assert "line 57: body.messages[0].content" in refused.value.message
    refused_lines = refused.value.response.json()["errors"]["data"]
    assert [(e["line"], e["param"]) for e in refused_lines] == [(57, "body.messages[0].content")]
    assert queued(redis.Redis.from_url(str(stack.redis_url)), "fast.alpha") == queued_before


def test_an_sse_subscriber_sees_every_job_of_a_batch_end(
    api: str, sdk: openai.OpenAI, emulator: str
) -> None:
    httpx.post(f"{emulator}/_emulator/latency", json={"base": 0.3}).raise_for_status()
    lines = [request_line(f"sse-{i}") for i in range(12)]
    batch = sdk.batches.create(
        input_file_id=_upload(sdk, lines), endpoint="/v1/chat/completions", completion_window="24h"
    )

    events: list[tuple[str, dict[str, Any]]] = []
    headers = {"Authorization": f"Bearer {KEY_A}"}
    url = f"{api}/v1/batches/{batch.id}/events?timeout=60"
    with httpx.stream("GET", url, headers=headers, timeout=70) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        name = ""
        for text in response.iter_lines():
            if text.startswith("event: "):
                name = text.removeprefix("event: ")
            elif text.startswith("data: "):
                events.append((name, json.loads(text.removeprefix("data: "))))

    jobs = [data for name, data in events if name == "job"]
    assert sorted(item["job_id"] for item in jobs) == sorted(
        f"{batch.id}-{n}" for n in range(1, 13)
    )
    assert {item["status"] for item in jobs} == {"succeeded"}
    assert events[-1][0] == "batch" and events[-1][1]["status"] == "completed"


def test_a_webhook_receiver_verifies_the_signature_of_every_job_and_batch_webhook(
    api: str, sdk: openai.OpenAI, emulator: str, receiver: Receiver
) -> None:
    headers = {"Authorization": f"Bearer {KEY_A}"}
    job_ids = []
    for n in range(3):
        submitted = httpx.post(
            f"{api}/v1/jobs",
            headers=headers,
            json={
                "needs": {"tier": "fast"},
                "request": {"messages": [{"role": "user", "content": f"job {n}"}]},
                "webhook_url": receiver.url,
            },
        )
        assert submitted.status_code == 202, submitted.text
        job_ids.append(submitted.json()["id"])
    batch = sdk.batches.create(
        input_file_id=_upload(sdk, [request_line("w-1"), request_line("w-2")]),
        endpoint="/v1/chat/completions",
        completion_window="24h",
        metadata={"webhook_url": receiver.url},
    )

    wait_for(lambda: len(receiver.received) >= 4, 30)

    for sent_headers, body in receiver.received:
        verify_signature(SECRET_A, sent_headers[SIGNATURE_HEADER], body)
        assert sent_headers[DELIVERY_HEADER]
    payloads = [json.loads(body) for _, body in receiver.received]
    assert sorted(p["job_id"] for p in payloads if p["type"] == "job.completed") == sorted(job_ids)
    batches = [p["batch"] for p in payloads if p["type"] == "batch.completed"]
    assert [(b["id"], b["request_counts"]["completed"]) for b in batches] == [(batch.id, 2)]


def test_a_tenants_key_gets_404_for_another_tenants_job_batch_and_file(
    api: str, sdk: openai.OpenAI
) -> None:
    acme = {"Authorization": f"Bearer {KEY_A}"}
    globex = {"Authorization": f"Bearer {KEY_B}"}
    job_id = httpx.post(
        f"{api}/v1/jobs",
        headers=acme,
        json={
            "needs": {"tier": "fast"},
            "request": {"messages": [{"role": "user", "content": "x"}]},
        },
    ).json()["id"]
    file_id = _upload(sdk, [request_line("t-1")])
    batch = sdk.batches.create(
        input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="24h"
    )

    assert httpx.get(f"{api}/v1/jobs/{job_id}", headers=acme).status_code == 200
    for method, path in [
        ("GET", f"/v1/jobs/{job_id}"),
        ("GET", f"/v1/jobs/{job_id}/events"),
        ("GET", f"/v1/batches/{batch.id}"),
        ("POST", f"/v1/batches/{batch.id}/cancel"),
        ("GET", f"/v1/files/{file_id}"),
        ("GET", f"/v1/files/{batch.id}-output/content"),
    ]:
        answer = httpx.request(method, f"{api}{path}", headers=globex)
        assert answer.status_code == 404, (method, path, answer.text)
    other = openai.OpenAI(base_url=f"{api}/v1", api_key=KEY_B, max_retries=0)
    assert batch.id not in [item.id for item in other.batches.list()]
    assert httpx.get(f"{api}/v1/jobs/{job_id}").status_code == 401
    bad_key = {"Authorization": "Bearer sk-nobody"}
    assert httpx.get(f"{api}/v1/jobs/{job_id}", headers=bad_key).status_code == 401


def test_chat_completions_through_the_openai_sdk_enqueue_and_wait(
    sdk: openai.OpenAI, emulator: str
) -> None:
    completion = sdk.chat.completions.create(
        model="fast", messages=[{"role": "user", "content": "Say hello."}], max_tokens=20
    )

    assert completion.object == "chat.completion"
    assert completion.choices[0].message.content
    with pytest.raises(openai.NotFoundError, match="unknown model 'gpt-4o'"):
        sdk.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])


def test_cancel_ends_every_unfinished_job_and_workers_skip_them(
    sdk: openai.OpenAI, emulator: str
) -> None:
    httpx.post(f"{emulator}/_emulator/latency", json={"base": 1.0}).raise_for_status()
    lines = [request_line(f"c-{i}") for i in range(60)]
    batch = sdk.batches.create(
        input_file_id=_upload(sdk, lines), endpoint="/v1/chat/completions", completion_window="24h"
    )

    cancelled = sdk.batches.cancel(batch.id)

    assert cancelled.status == "cancelled" and cancelled.cancelled_at is not None
    counts = cancelled.model_extra["counts"] if cancelled.model_extra else {}
    assert counts["cancelled"] > 0
    assert counts["succeeded"] + counts["failed"] + counts["cancelled"] == 60
    assert cancelled.error_file_id is not None
    errors = [json.loads(x) for x in sdk.files.content(cancelled.error_file_id).text.splitlines()]
    assert len(errors) == counts["cancelled"]
    assert {item["error"]["code"] for item in errors} == {"batch_cancelled"}
    time.sleep(2.5)
    calls = httpx.get(f"{emulator}/_emulator/calls").json()
    # Only the calls already in flight when the cancel came were made; queued jobs were skipped.
    assert calls["total"] < 60 - counts["cancelled"] + 16 * 3


def test_the_openapi_document_describes_every_route(api: str) -> None:
    document = httpx.get(f"{api}/openapi.json").json()

    assert document["openapi"].startswith("3.")
    assert {
        "/v1/chat/completions",
        "/v1/files",
        "/v1/batches",
        "/v1/batches/{batch_id}",
        "/v1/batches/{batch_id}/cancel",
        "/v1/batches/{batch_id}/events",
        "/v1/jobs",
        "/v1/jobs/{job_id}",
        "/v1/jobs/{job_id}/events",
        "/v1/jobs/wait",
        "/v1/files/{file_id}/content",
    } <= set(document["paths"])


def test_cli_batch_submit_waits_with_progress_then_results_prints_the_output(
    stack: LocalStack, emulator: str, tmp_path: Path
) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(request_line(f"cli-{i}") for i in range(5)) + "\n")

    def cascade(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "broker", *args],
            capture_output=True,
            text=True,
            env=stack.env(),
            timeout=120,
            check=False,
        )

    submitted = cascade("batch", "submit", str(path), "--wait", "--timeout", "60")
    assert submitted.returncode == 0, submitted.stderr
    batch_id = submitted.stdout.splitlines()[0]
    assert json.loads(submitted.stdout.split("\n", 1)[1])["status"] == "completed"

    results = cascade("batch", "results", batch_id)
    assert sorted(json.loads(x)["custom_id"] for x in results.stdout.splitlines()) == [
        f"cli-{i}" for i in range(5)
    ]
    assert cascade("batch", "status", "batch_nope").returncode == 2
