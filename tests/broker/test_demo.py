"""``cascade demo`` as a new user runs it: no Redis at the configured URL, no API keys."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.integration


def _cascade_processes() -> set[tuple[int, str]]:
    """Processes a demo starts: its workers and emulator, and its private redis-server."""
    found = set()
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                command = handle.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if "-m broker" in command or "cascade-stack-" in command:
            found.add((int(pid), command))
    return found


def test_the_demo_answers_every_job_and_leaves_no_process_behind() -> None:
    before = _cascade_processes()
    env = {key: value for key, value in os.environ.items() if not key.endswith("_API_KEY")}
    env.update({"CASCADE_REDIS_URL": "redis://127.0.0.1:1/0", "COLUMNS": "160"})
    env.pop("CASCADE_CONFIG", None)

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
    assert _cascade_processes() - before == set()
