"""The README's sample session is what cascade prints: each ``$ cascade ...`` line in a fenced
block is run against the shipped catalog and a Redis of the test's own, and its output compared
with the lines that follow it in the README."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

README = Path(__file__).parents[1] / "README.md"


def readme_sessions() -> list[tuple[list[str], str]]:
    """(cascade arguments, expected output) for every ``$ cascade`` line of a fenced block."""
    found = []
    blocks = re.split(r"^```.*$", README.read_text(), flags=re.M)[1::2]  # inside the fences
    for block in blocks:
        lines = block.strip("\n").splitlines()
        if lines and lines[0].startswith("$ cascade "):
            found.append((shlex.split(lines[0])[2:], "\n".join(lines[1:])))
    return found


def test_the_readme_has_a_sample_session() -> None:
    assert readme_sessions()


@pytest.mark.parametrize(("arguments", "expected"), readme_sessions())
def test_the_readmes_sample_prints_what_cascade_prints(
    arguments: list[str], expected: str, redis_url: str
) -> None:
    env = {key: value for key, value in os.environ.items() if key != "CASCADE_CONFIG"}
    # A database no other test's workers consume: a sample that enqueued would stay put.
    env.update({"CASCADE_REDIS_URL": redis_url.rsplit("/", 1)[0] + "/14", "COLUMNS": "100"})

    shown = subprocess.run([sys.executable, "-m", "broker", *arguments], capture_output=True,
                           text=True, env=env, timeout=60, check=False)

    assert (shown.stdout + shown.stderr).strip() == expected.strip()
