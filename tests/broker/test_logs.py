"""Log lines: JSON with the job's context, and never a message's contents or an API key."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
import structlog

from broker.catalog_file import load_catalog
from broker.jobs import CompletionJob
from broker.keys import Keys
from broker.local_stack import LocalStack
from broker.logs import JOB_CONTEXT_KEYS, REDACTED, Redactor, configure_logging
from broker.settings import Settings
from broker.store import JobStore
from routing.latency import LatencyBook
from routing.planner import plan
from routing.spend import SpendLedger
from workers.admission import Gatekeeper
from workers.context import WorkerContext
from workers.runner import JobRunner

CATALOG = str(Path(__file__).parents[1] / "fixtures" / "catalog.yaml")
SECRET_PROMPT = "the launch code is PINEAPPLE-7731-ZEBRA"
FAKE_KEY = "sk-test-FAKEKEY0123456789abcdefXYZ"


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers, root.level = handlers, level
    structlog.reset_defaults()


def _lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_message_contents_and_credential_keys_are_dropped_at_any_depth() -> None:
    redactor = Redactor()
    cleaned = redactor.clean(
        {
            "event": "calling",
            "messages": [{"role": "user", "content": SECRET_PROMPT}],
            "headers": {"Authorization": f"Bearer {FAKE_KEY}", "x-api-key": FAKE_KEY},
            "request": {"prompt": SECRET_PROMPT, "max_tokens": 5},
            "job_id": "0f8e2a6c4b5d4e3f9a1b2c3d4e5f6a7b",
        }
    )
    assert cleaned == {
        "event": "calling",
        "headers": {},
        "request": {"max_tokens": 5},
        "job_id": "0f8e2a6c4b5d4e3f9a1b2c3d4e5f6a7b",
    }


def test_strings_shaped_like_keys_are_masked_but_job_ids_are_kept() -> None:
    redactor = Redactor()
    # Key shapes as the providers document them: OpenAI "sk-...", Anthropic "sk-ant-...",
    # Google "AIza..." (also passed as ?key= to the Gemini REST API).
    text = (
        f"failed with {FAKE_KEY} and sk-ant-api03-abcdefghijklmnopqrstuvwx and "
        "https://generativelanguage.googleapis.com/v1beta/models/x:generateContent?key=abc123&alt=sse"
        " and AIzaSyA1234567890abcdefghijklmnopqrstu for job 0f8e2a6c4b5d4e3f9a1b2c3d4e5f6a7b"
    )
    masked = redactor.mask(text)
    assert FAKE_KEY not in masked and "sk-ant-api03" not in masked and "AIzaSy" not in masked
    assert "?key=" + REDACTED + "&alt=sse" in masked
    assert masked.endswith("for job 0f8e2a6c4b5d4e3f9a1b2c3d4e5f6a7b")


@pytest.mark.parametrize(
    "text",
    [
        "Authorization: Bearer abcdefghijkl",
        "BEARER\tabcdefghijkl",
        "Basic dXNlcjpwYXNzd29yZA==",
        "https://x/v1?alt=sse&KEY=abc",
        "https://x/v1?Api-Key=abc",
        "gsk_" + "a" * 24,
        "hf-" + "b" * 24,
        "xai_" + "c" * 24,
        "rk-" + "d" * 20,
    ],
)
def test_every_shape_is_masked_in_any_case_the_patterns_allow(text: str) -> None:
    """The masks are skipped only for strings holding none of the pieces every shape has
    (broker/logs.py's _SHAPE_PIECES): each shape, in the cases its pattern accepts, still is."""
    masked = Redactor().mask(text)
    assert REDACTED in masked and masked != text


def test_values_of_credential_variables_in_the_environment_are_masked_anywhere() -> None:
    stream = io.StringIO()
    configure_logging(True, stream=stream, environ={"ACME_API_KEY": "plain-words-secret-99"})
    structlog.get_logger("t").info("error: upstream said plain-words-secret-99 is invalid")
    (line,) = _lines(stream)
    assert "plain-words-secret-99" not in json.dumps(line)
    assert line["event"] == f"error: upstream said {REDACTED} is invalid"


def test_standard_library_lines_are_json_with_the_bound_job_context_and_redacted() -> None:
    stream = io.StringIO()
    configure_logging(True, stream=stream, environ={})
    structlog.contextvars.bind_contextvars(job_id="job-1", provider="alpha")
    try:
        logging.getLogger("celery.worker.consumer").info("Connected, auth Bearer %s", FAKE_KEY)
    finally:
        structlog.contextvars.clear_contextvars()
    (line,) = _lines(stream)
    assert line["job_id"] == "job-1" and line["provider"] == "alpha"
    assert line["logger"] == "celery.worker.consumer" and line["level"] == "info"
    assert FAKE_KEY not in stream.getvalue()


@pytest.mark.parametrize(("level", "shown"), [("INFO", 0), ("DEBUG", 2)])
def test_celerys_per_task_lines_are_left_out_unless_debugging(level: str, shown: int) -> None:
    """cascade's own job lines say the same per job; Celery's cost CPU on every task."""
    stream = io.StringIO()
    configure_logging(True, stream=stream, environ={}, level=level)
    logging.getLogger("celery.worker.strategy").info("Task cascade.execute[1] received")
    logging.getLogger("celery.app.trace").info("Task cascade.execute[1] succeeded in 1.0s")
    logging.getLogger("celery.app.trace").error("Task cascade.execute[2] raised")

    lines = _lines(stream)

    assert len(lines) == shown + 1
    assert lines[-1]["level"] == "error"


def test_console_format_is_chosen_explicitly_and_is_not_json() -> None:
    stream = io.StringIO()
    configure_logging(False, stream=stream, environ={})
    structlog.get_logger("t").info("worker ready", provider="alpha")
    assert "worker ready" in stream.getvalue() and "provider" in stream.getvalue()
    with pytest.raises(json.JSONDecodeError):
        json.loads(stream.getvalue().splitlines()[0])


@pytest.mark.integration
def test_a_job_run_by_the_runner_logs_its_context_but_never_its_prompt_or_key(
    redis_url: str,
) -> None:
    """A real Redis (a private DB index), the emulator over HTTP with a real key header, and
    the worker's runner: the first call answers 503 so retry lines are written too."""
    private = redis_url.rsplit("/", 1)[0] + "/9"
    client = redis.Redis.from_url(private)
    client.flushdb()
    stream = io.StringIO()
    with LocalStack(redis_url=private) as stack:
        stack.start_emulator()
        httpx.post(
            f"{stack.emulator_url}/_emulator/faults",
            json={"rules": [{"provider": "alpha", "kind": "status", "status": 503, "first_n": 1}]},
        ).raise_for_status()
        settings = Settings(redis_url=private, config=CATALOG, base_backoff_s=0.01)
        catalog = load_catalog(CATALOG).with_emulator(stack.emulator_url, api_key=FAKE_KEY)
        keys = Keys(settings.key_prefix)
        store = JobStore(client, keys, settings.result_ttl_s)
        job = CompletionJob.model_validate(
            {
                "needs": {"tier": "fast"},
                "request": {"messages": [{"role": "user", "content": SECRET_PROMPT}]},
                "envelope": {"tenant": "acme", "batch_id": "batch-logs-1"},
            }
        )
        pipe = client.pipeline()
        store.add_to_pipeline(pipe, job, list(plan(job, catalog).targets))
        pipe.execute()
        published: list[tuple[str, int, Any, float | None]] = []

        # The third argument is where the message goes (a queue name or a route target).
        def publish(job_id: str, hop: int, where: Any, countdown: float | None) -> None:
            published.append((job_id, hop, where, countdown))

        configure_logging(True, stream=stream, environ={})
        context = WorkerContext(
            settings, catalog, store, Gatekeeper(client, keys, catalog),
            SpendLedger(client, keys, catalog), LatencyBook(client, keys),
        )
        try:
            runner = JobRunner(context, publish, "alpha@test")
            runner.run(job.id, 0)
            assert published and published[0][:2] == (job.id, 0)
            assert runner.run(job.id, 0).kind == "succeeded"
        finally:
            context.close()
            client.flushdb()
            client.close()

    output = stream.getvalue()
    assert SECRET_PROMPT not in output and "PINEAPPLE" not in output
    assert FAKE_KEY not in output
    about_job = [line for line in _lines(stream) if line.get("job_id") == job.id]
    assert {line["event"] for line in about_job} >= {"attempt failed", "job succeeded"}
    for line in about_job:
        assert {key: line.get(key) for key in JOB_CONTEXT_KEYS} == {
            "job_id": job.id,
            "batch_id": "batch-logs-1",
            "tenant": "acme",
            "provider": "alpha",
            "model": "a1",
            "attempt": line["attempt"],
        }
        assert line["attempt"] in (1, 2)
