"""The ``cascade`` command as a user runs it: a real process, its output and its exit code."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

CATALOG = str(Path(__file__).parents[1] / "fixtures" / "catalog.yaml")


def cascade(
    *args: str,
    redis_url: str = "redis://127.0.0.1:1/0",
    config: str = CATALOG,
    columns: int | None = None,
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "CASCADE_REDIS_URL": redis_url,
        "CASCADE_CONFIG": config,
        "CASCADE_PROFILE": "emulated",
    }
    if columns is not None:
        env["COLUMNS"] = str(columns)
    return subprocess.run(
        [sys.executable, "-m", "broker", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


@pytest.fixture()
def redis_url(redis_url: str) -> str:
    """A database of its own: jobs queued here must not reach other tests' workers."""
    return redis_url.rsplit("/", 1)[0] + "/4"


def test_routes_prints_every_tier_with_its_queues_in_fallback_order() -> None:
    shown = cascade("routes")
    assert shown.returncode == 0, shown.stderr
    lines = [line for line in shown.stdout.splitlines() if "fast." in line or "smart." in line]
    assert [next(q for q in line.split() if "." in q) for line in lines[:4]] == [
        "fast.alpha",
        "fast.beta",
        "smart.gamma",
        "smart.beta",
    ]


def test_a_malformed_catalog_is_refused_naming_the_bad_key(tmp_path: Path) -> None:
    broken = tmp_path / "cascade.yaml"
    broken.write_text(
        Path(CATALOG)
        .read_text()
        .replace("price: {input: 0.20, output: 0.80}", "price: {output: 0.80}")
    )
    shown = cascade("routes", config=str(broken))
    assert shown.returncode != 0
    assert "models[1].price.input: Field required" in shown.stderr


@pytest.mark.integration
def test_result_for_an_unknown_id_says_so_and_exits_non_zero(redis_url: str) -> None:
    shown = cascade("result", "no-such-job", redis_url=redis_url)
    assert shown.returncode == 2
    assert "no job with id 'no-such-job'" in shown.stderr


@pytest.mark.integration
def test_submit_refuses_an_unknown_tier_naming_the_field(redis_url: str) -> None:
    shown = cascade("submit", "--tier", "premium", "hello", redis_url=redis_url)
    assert shown.returncode == 3
    assert "needs.tier: unknown tier 'premium'" in shown.stderr


@pytest.mark.integration
def test_submit_prints_the_job_id_and_result_shows_it_queued(redis_url: str) -> None:
    submitted = cascade("submit", "--tier", "fast", "hello", redis_url=redis_url)
    assert submitted.returncode == 0, submitted.stderr
    job_id = submitted.stdout.strip()

    shown = cascade("result", job_id, redis_url=redis_url)
    assert shown.returncode == 0
    assert json.loads(shown.stdout) == {"job_id": job_id, "status": "queued"}


@pytest.mark.integration
def test_submit_reads_a_job_file_and_refuses_it_naming_the_bad_field(
    redis_url: str, tmp_path: Path
) -> None:
    job = tmp_path / "job.json"
    job.write_text(
        json.dumps(
            {"needs": {"tier": "fast"}, "request": {"messages": [{"role": "user", "content": 7}]}}
        )
    )
    shown = cascade("submit", "--file", str(job), redis_url=redis_url)
    assert shown.returncode == 3
    assert "request.messages[0].content" in shown.stderr


def test_route_explains_each_candidate_its_estimate_and_why_it_was_dropped() -> None:
    shown = cascade("route", "--tier", "fast", "--needs", "vision", "--no-live", "Describe this.")

    assert shown.returncode == 0, shown.stderr
    lines = {
        line.split()[1]: line for line in shown.stdout.splitlines() if "(" in line and "$" in line
    }
    assert "kept" in lines["b1"] and "est. $" in lines["b1"]
    assert "dropped" in lines["a1"] and "vision" in lines["a1"]


def test_route_shows_a_target_dropped_for_a_parameter_its_format_cannot_carry() -> None:
    shipped = str(Path(__file__).parents[2] / "broker" / "cascade.yaml")
    shown = cascade(
        "route", "--tier", "standard", "--param", "seed=7", "--param", 'stop=["\\n"]',
        "--no-live", "Hi.", config=shipped,
    )

    assert shown.returncode == 0, shown.stderr
    lines = {
        line.split()[1]: line for line in shown.stdout.splitlines() if "(" in line and "$" in line
    }
    assert "dropped: anthropic cannot carry seed" in lines["claude-sonnet-5"]
    assert "whitespace-only stop" in lines["claude-sonnet-5"]
    assert "kept" in lines["gpt-5.4"]


def test_route_for_a_job_nothing_can_serve_exits_non_zero_with_every_reason() -> None:
    shown = cascade("route", "--tier", "fast", "--max-cost", "0.0000001", "--no-live", "Hi.")

    assert shown.returncode == 3
    assert "a1" in shown.stdout + shown.stderr and "b2" in shown.stdout + shown.stderr
