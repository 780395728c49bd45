"""The bench's CPU probe: thread CPU per probed function, written at exit, read per job."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from broker.bench.cpu_probe import read_probes

# A process that burns CPU inside one probed function and sleeps inside another: only the
# first is counted, since a probe times its thread's CPU, not the wall clock.
SCRIPT = """
import sys, time
from broker.bench.cpu_probe import install
missing = install(sys.argv[1], (
    ("tests.broker.probe_targets", "burn", "burning"),
    ("tests.broker.probe_targets", "nap", "sleeping"),
    ("tests.broker.probe_targets", "gone", "renamed"),
))
from tests.broker import probe_targets
for _ in range(4):
    probe_targets.burn(0.05)
    probe_targets.nap(0.05)
"""


def test_probes_count_their_thread_s_cpu_and_name_what_they_could_not_find(
    tmp_path: Path,
) -> None:
    root = Path(__file__).parents[2]
    subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path)], check=True, cwd=root, timeout=60)
    (written,) = tmp_path.glob("*.json")
    assert json.loads(written.read_text())["missing"] == ["tests.broker.probe_targets:gone"]

    found = read_probes(str(tmp_path), jobs_seen=4)

    burning, sleeping = found["steps"]["burning"], found["steps"]["sleeping"]
    assert burning["calls_per_job"] == sleeping["calls_per_job"] == 1.0
    assert burning["ms_per_job"] >= 40  # 50 ms of CPU each, give or take the clock
    assert sleeping["ms_per_job"] < 10  # asleep: no CPU
    assert found["missing"] == ["tests.broker.probe_targets:gone"]
    assert found["worker_process_cpu_ms_per_job"] >= burning["ms_per_job"]
