"""``cascade demo`` as a new user runs it: no API keys, and a Redis of its own unless told."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator

import pytest
import redis
from click.testing import CliRunner

from broker.cli import main
from broker.demo import demo_redis_url

# The demo run under the default settings, with the default Redis address made the watched one
# for this process only: the real default (127.0.0.1:6379) is never touched by the test.
_DEMO_WITH_DEFAULT_AT = """
import sys
from broker.settings import Settings
Settings.model_fields["redis_url"].default = sys.argv[1]
Settings.model_rebuild(force=True)
from broker.cli import main
main(["demo", "--jobs", "2"])
"""


def _demo_env() -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.endswith("_API_KEY")}
    env.pop("CASCADE_CONFIG", None)
    env.pop("CASCADE_REDIS_URL", None)
    return {**env, "COLUMNS": "160"}


@pytest.fixture()
def watched(redis_url: str) -> Iterator[str]:
    """A database of the tests' own Redis that no other test uses, empty at the start."""
    url = redis_url.rsplit("/", 1)[0] + "/15"
    connection = redis.Redis.from_url(url)
    connection.flushdb()
    yield url
    connection.flushdb()
    connection.close()


def _cascade_processes(mark: str) -> set[tuple[int, str]]:
    """Processes a demo started: its workers, emulator and private redis-server, told apart from
    any other cascade process on the machine (a bench, another test's stack) by ``mark``, an
    environment variable the demo's processes inherit."""
    found = set()
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                command = handle.read().replace(b"\0", b" ").decode(errors="replace")
            with open(f"/proc/{pid}/environ", "rb") as handle:
                environment = handle.read().split(b"\0")
        except OSError:
            continue
        if mark.encode() in environment and (
            "-m broker" in command or "cascade-stack-" in command or "redis-server" in command
        ):
            found.add((int(pid), command))
    return found


@pytest.mark.integration
def test_the_demo_answers_every_job_and_leaves_no_process_behind() -> None:
    mark = f"CASCADE_TEST_MARK={uuid.uuid4().hex}"
    env = {key: value for key, value in os.environ.items() if not key.endswith("_API_KEY")}
    env.update({"COLUMNS": "160", mark.split("=")[0]: mark.split("=")[1]})
    env.pop("CASCADE_CONFIG", None)
    env.pop("CASCADE_REDIS_URL", None)

    shown = subprocess.run([sys.executable, "-m", "broker", "demo", "--jobs", "6"],
                           capture_output=True, text=True, env=env, timeout=240, check=False)

    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert "6 of 6 jobs answered" in shown.stdout
    assert "openai is made to answer 503" in shown.stdout
    # frontier's first target is openai's: each of its jobs is answered elsewhere, after a reroute
    frontier = [
        [cell.strip() for cell in line.split("│")[1:-1]]
        for line in shown.stdout.splitlines()
        if "│ frontier " in line
    ]
    assert frontier
    for _job, _tier, answered_by, _attempts, reroutes, _tokens, _cost in frontier:
        assert not answered_by.startswith("openai/") and int(reroutes) >= 1
    # the catalog's three example pipelines, each shown as its tree
    for name in ("triage", "answer-validated", "summary"):
        assert re.search(rf"pipeline demo-{name}-\w+ \[succeeded\]", shown.stdout), shown.stdout
    assert "tier frontier" in shown.stdout  # triage sent its complex question up
    assert _cascade_processes(mark) == set()


@pytest.mark.integration
def test_the_demo_leaves_a_redis_answering_at_the_default_address_untouched(watched: str) -> None:
    shown = subprocess.run([sys.executable, "-c", _DEMO_WITH_DEFAULT_AT, watched],
                           capture_output=True, text=True, env=_demo_env(), timeout=240,
                           check=False)

    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert "2 of 2 jobs answered" in shown.stdout
    assert watched not in shown.stdout
    assert redis.Redis.from_url(watched).dbsize() == 0


@pytest.mark.system
@pytest.mark.integration
def test_the_demo_runs_on_the_redis_given_by_redis_url(watched: str) -> None:
    shown = subprocess.run(
        [sys.executable, "-m", "broker", "demo", "--jobs", "2", "--redis-url", watched],
        capture_output=True, text=True, env=_demo_env(), timeout=240, check=False,
    )

    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert f"Redis at {watched}" in shown.stdout
    results = redis.Redis.from_url(watched).scan_iter("cascade:job:*:result")
    # the demo's jobs, and the steps of its example pipelines (ids "<pipeline>.<step>.<round>")
    ids = [key.decode().split(":")[2] for key in results]
    assert len([job_id for job_id in ids if "." not in job_id]) == 2
    assert {job_id.split(".")[1] for job_id in ids if "." in job_id} == {
        "classify", "answer", "check", "pros", "cons", "summary"
    }


def test_the_demo_refuses_a_redis_it_was_given_that_does_not_answer() -> None:
    shown = CliRunner().invoke(main, ["demo", "--redis-url", "redis://127.0.0.1:1/0"])

    assert shown.exit_code == 1
    assert "no Redis answers at redis://127.0.0.1:1/0" in shown.output
    assert "starts a private Redis" in shown.output


def test_the_demo_uses_a_redis_only_when_told_by_option_group_option_or_variable() -> None:
    assert demo_redis_url(None, None, {}) is None
    assert demo_redis_url(None, None, {"CASCADE_REDIS_URL": "redis://r:1/0"}) == "redis://r:1/0"
    assert demo_redis_url(None, "redis://g:1/0", {"CASCADE_REDIS_URL": "redis://r:1/0"}) == (
        "redis://g:1/0"
    )
    assert demo_redis_url("redis://o:1/0", "redis://g:1/0", {}) == "redis://o:1/0"
