"""The engine's floor: a worker's CPU per message for a task that does nothing.

``python -m broker.bench.celery_floor [--messages N] [--rate R]`` starts a private redis-server
and one ``celery worker`` with cascade's Celery settings (threads pool, its concurrency, late acks,
prefetch 1, cascade's Redis transport), sends N messages of a no-op task, and reports the
worker's and Redis's CPU per message, with Celery's task events on and off. Whatever cascade
does per job comes on top of this and of the HTTP call itself; docs/performance.md sets it
against the direct call's CPU to show what the issue 18 ratio leaves for cascade's own work.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis

from broker.bench.procstat import cpu_seconds
from broker.celery_app import create_celery
from broker.local_stack import LocalStack
from broker.settings import Settings

__all__ = ["measure_floor"]

_APP = """
import os
from broker.celery_app import create_celery
from broker.settings import Settings
from workers.broker_transport import TRANSPORT

app = create_celery(Settings(redis_url=os.environ["FLOOR_REDIS"],
                             task_events=os.environ["FLOOR_EVENTS"] == "1"))
app.conf.broker_transport = TRANSPORT

@app.task(name="floor.noop", ignore_result=True)
def noop(job_id, hop):
    return None
"""


def measure_floor(
    messages: int, events: bool, concurrency: int = 256, rate_per_s: float | None = None
) -> dict[str, float]:
    """CPU ms per message of the worker and of Redis for ``messages`` no-op tasks, sent as
    fast as the producer can or, with ``rate_per_s``, evenly at that rate. A flood keeps the
    worker's loop busy and costs it less per message than the same messages spread out, each
    waking it from its wait, as a bench leg's jobs do (docs/performance.md, seventh pass)."""
    with LocalStack() as stack, tempfile.TemporaryDirectory() as folder:
        url = stack.start_redis()
        Path(folder, "floor_app.py").write_text(_APP)
        root = str(Path(__file__).parents[2])
        env = {
            **os.environ,
            "FLOOR_REDIS": url,
            "FLOOR_EVENTS": "1" if events else "0",
            "PYTHONPATH": os.pathsep.join([folder, root]),
        }
        argv = [sys.executable, "-m", "celery", "-A", "floor_app", "worker", "--pool",
                "threads", "--concurrency", str(concurrency), "--without-mingle",
                "--without-gossip", "--loglevel", "WARNING", "--queues", "floor",
                *(["--task-events"] if events else [])]  # fmt: skip
        worker = subprocess.Popen(
            argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            client = redis.Redis.from_url(url)
            from workers.broker_transport import TRANSPORT  # the worker's side: lazily

            app = create_celery(Settings(redis_url=url))
            app.conf.broker_transport = TRANSPORT  # its publishes ring, as cascade's all do

            deadline = time.monotonic() + 30
            while not app.control.inspect(timeout=0.5).ping() and time.monotonic() < deadline:
                time.sleep(0.2)
            assert stack.redis_process is not None
            worker_before = cpu_seconds(worker.pid)
            redis_before = cpu_seconds(stack.redis_process.pid)
            with app.producer_or_acquire() as producer:
                start = time.monotonic()
                for n in range(messages):
                    if rate_per_s and (ahead := start + n / rate_per_s - time.monotonic()) > 0:
                        time.sleep(ahead)
                    app.send_task("floor.noop", args=[str(n), 0], queue="floor", producer=producer)
            while client.llen("floor") or client.hlen("unacked"):
                time.sleep(0.05)
            return {
                "worker_ms_per_message": round(
                    1000 * (cpu_seconds(worker.pid) - worker_before) / messages, 3
                ),
                "redis_ms_per_message": round(
                    1000 * (cpu_seconds(stack.redis_process.pid) - redis_before) / messages, 3
                ),
            }
        finally:
            worker.terminate()
            worker.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=4000)
    parser.add_argument(
        "--rate", type=float, default=None, help="messages per second (default: a flood)"
    )
    options = parser.parse_args()
    for events in (True, False):
        found = measure_floor(options.messages, events, rate_per_s=options.rate)
        label = "task events on " if events else "task events off"
        print(
            f"{label}: worker {found['worker_ms_per_message']} ms, "
            f"Redis {found['redis_ms_per_message']} ms CPU per message ({options.messages})"
        )


if __name__ == "__main__":
    main()
