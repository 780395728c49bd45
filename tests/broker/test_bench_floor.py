"""The design's floor: the call from a thread measured against a real emulator over HTTP, and
``cascade bench --floor`` reporting it beside the legs of the same run."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
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
    assert floor["cascade_above_floor_vs_direct_x"] is not None
    assert "design floor vs direct" in result.output


class _Counting(BaseHTTPRequestHandler):
    """Answers every POST after a pause, noting how many requests it holds at once: at most,
    and at most within the first 70 ms after the warm-up's ``WARM`` requests."""

    WARM = 4
    lock = threading.Lock()
    seen = now = peak = early_peak = 0
    first: float | None = None

    def do_POST(self) -> None:
        cls = type(self)
        with cls.lock:
            cls.seen += 1
            cls.now += 1
            cls.peak = max(cls.peak, cls.now)
            if cls.seen > cls.WARM:
                cls.first = cls.first or time.monotonic()
                if time.monotonic() - cls.first < 0.07:
                    cls.early_peak = max(cls.early_peak, cls.now)
        self.rfile.read(int(self.headers["content-length"]))
        time.sleep(0.03)
        body = b'{"ok": true}'
        with cls.lock:
            cls.now -= 1
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


def test_the_calls_from_threads_open_their_slots_over_the_ramp_and_never_exceed_them() -> None:
    # Before: the warm-up's calls counted themselves out of the in-flight count without having
    # counted in, so the measured calls began with every slot open, whatever the ramp.
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Counting)
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    serving.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        work = Workload(jobs=12, concurrency=_Counting.WARM, latency_s=0.03, ramp_s=0.6)

        threaded_call_cpu_ms(url, work)
    finally:
        server.shutdown()

    # four slots over 0.6 s: the second opens at 150 ms, so the first 70 ms hold one call
    assert _Counting.early_peak == 1
    assert _Counting.peak <= 4
