"""The design's floor: the call from a thread measured against a real emulator over HTTP, and
``cascade bench --floor`` reporting it beside the legs of the same run."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from broker.bench.floor import threaded_call_cpu_ms
from broker.bench.workload import Workload
from broker.cli import main
from broker.local_stack import LocalStack, free_port

pytestmark = pytest.mark.integration


def test_the_call_from_a_thread_costs_this_process_cpu_per_call_against_a_real_emulator() -> None:
    with LocalStack() as stack:
        url = stack.start_emulator(latency_s=0.0)

        cpu_ms = threaded_call_cpu_ms(url, Workload(jobs=40, concurrency=8, latency_s=0.0))

    assert cpu_ms > 0


def test_a_call_that_fails_fails_the_floor_instead_of_counting_as_cheap() -> None:
    nobody = f"http://127.0.0.1:{free_port()}"  # nothing listens there

    with pytest.raises(httpx.ConnectError):
        threaded_call_cpu_ms(nobody, Workload(jobs=4, concurrency=2, latency_s=0.0))


def test_bench_floor_reports_the_floor_beside_the_legs_of_the_same_run(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    result = CliRunner().invoke(
        main,
        ["bench", "--jobs", "12", "--concurrency", "4", "--latency", "0", "--warmup", "2",
         "--enqueue-jobs", "0", "--legs", "direct,cascade", "--floor", "--json", str(out)],
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    floor = json.loads(out.read_text())["floor"]
    assert floor["celery_worker_ms"] > 0 and floor["threaded_call_ms"] > 0
    assert floor["total_ms"] == pytest.approx(
        floor["celery_worker_ms"] + floor["celery_redis_ms"] + floor["threaded_call_ms"], abs=1e-3
    )
    assert floor["vs_direct_x"] > 0
    assert floor["cascade_above_floor_ms"] is not None
    assert "design floor vs direct" in result.output
