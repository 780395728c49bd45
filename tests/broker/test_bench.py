"""``cascade bench`` runs end to end on a tiny workload and reports every field: structure and
behaviour only, never timings (the machine is shared)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from broker.bench.litellm_leg import litellm_missing
from broker.bench.stats import distribution, percentile
from broker.cli import main

pytestmark = pytest.mark.integration

LEG_FIELDS = {
    "name", "jobs", "ok", "wall_s", "latency", "overhead", "cpu_s", "load_avg", "extra",
    "throughput_per_s", "cpu_s_per_job",
}  # fmt: skip


def test_percentile_is_the_nearest_rank() -> None:
    values = [float(n) for n in range(1, 101)]
    assert (percentile(values, 50), percentile(values, 99), percentile([], 50)) == (
        50.0,
        99.0,
        0.0,
    )
    assert distribution([0.001, 0.002]).max == 2.0


def test_bench_runs_every_leg_and_writes_the_json_report(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    result = CliRunner().invoke(
        main,
        ["bench", "--jobs", "12", "--concurrency", "4", "--latency", "0", "--warmup", "2",
         "--enqueue-jobs", "50", "--json", str(out)],
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    legs = report["runs"][0]
    expected = {"direct", "cascade"} | ({"litellm"} if litellm_missing() is None else set())
    # the direct leg once more after cascade's, to see the machine's speed move (drift.py)
    assert set(legs) == expected | {"direct-again"}
    assert list(legs)[-1] == "direct-again"
    for leg in legs.values():
        assert LEG_FIELDS <= set(leg)
        assert leg["ok"] == 12
        assert {"p50", "p95", "p99"} <= set(leg["overhead"])
    cascade = legs["cascade"]
    assert {"producer", "redis", "worker-emu-0"} <= set(cascade["cpu_s"])
    assert cascade["extra"]["failed"] == 0
    stages = cascade["extra"]["stages_ms"]
    assert stages["jobs"] == 12
    assert {"submit", "delivery", "admission", "call", "finish", "heard"} <= set(stages)
    assert report["config"]["ramp_s"] == 0.0  # the latency, by default
    assert report["machine"]["redis_version"]
    assert cascade["extra"]["redis_commands_per_job"]
    assert set(report["ratios"]) == {
        "cascade_vs_direct",
        "cascade_vs_litellm",
        "litellm_vs_direct",
        "cpu_cascade_vs_direct",
    }
    assert report["ratios"]["cascade_vs_direct"] is not None
    # issue 18: the CPU ratio of the same run is reported and judged against its 2x target
    cpu_ratio = report["ratios"]["cpu_cascade_vs_direct"]
    assert cpu_ratio is not None and cpu_ratio > 0
    assert report["targets"]["cpu_per_job_vs_direct_x"]["target"] == 2.0
    assert report["targets"]["cpu_per_job_vs_direct_x"]["value"] == cpu_ratio
    assert report["enqueue"]["jobs"] == 50
    assert set(report["enqueue"]["producer_rss_mb"]) == {"first_chunk", "peak", "end"}
    assert "enqueue_jobs_per_s" in report["targets"]
    assert "jobs/s" in result.output
    assert set(report["drift"]) == {"repeats", "largest_change", "uncertain"}
    assert "before and after cascade's legs" in result.output


def test_a_missing_litellm_skips_its_leg_with_the_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("broker.bench.harness.litellm_missing", lambda: "litellm is not installed")
    out = tmp_path / "bench.json"
    result = CliRunner().invoke(
        main,
        ["bench", "--jobs", "4", "--concurrency", "2", "--latency", "0", "--warmup", "0",
         "--enqueue-jobs", "0", "--legs", "direct,litellm", "--ramp", "0.05", "--json", str(out)],
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["skipped"] == {"litellm": "litellm is not installed"}
    assert report["config"]["ramp_s"] == 0.05
    assert set(report["runs"][0]) == {"direct"}
    assert "litellm: skipped: litellm is not installed" in result.output
