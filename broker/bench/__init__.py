"""``cascade bench``: cascade against the physical limit and a peer, on the same work, in one run.

Three legs send the same requests at the same concurrency to one emulator process: straight
with asyncio and httpx (the limit), through LiteLLM's Router (the peer a user would pick
instead), and through the whole cascade stack (producer, Redis, worker, emulator, job store).
A fourth part enqueues a large batch with no worker, for the producer's rate and memory and
Redis's memory per queued job. With ``--floor`` a fifth measures the design's floor per job
(``broker/bench/floor.py``): what one Celery message and the call from a worker thread cost
before any of cascade's own work.
"""

from broker.bench.harness import BenchConfig, run_bench
from broker.bench.report import render_text

__all__ = ["BenchConfig", "render_text", "run_bench"]
