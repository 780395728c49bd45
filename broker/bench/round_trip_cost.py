"""What one Redis round trip costs in CPU, client and server, and what an ack costs in each form.

``python -m broker.bench.round_trip_cost [--calls N] [--repeats R]`` starts a private
redis-server and, from one thread, times N calls of each of:

- ``script``: one ``EVALSHA`` of a script that does nothing, through ``run_scripts`` (the
  worker's begin, admission and finish each cost one of these);
- ``kombu_ack``: kombu's acknowledgement of a late-acked message, ``MULTI``/``ZREM``/``HDEL``/
  ``EXEC`` through redis-py's pipeline, as its Redis transport sends it;
- ``ack_in_batch``: the same removals as one more script in a round trip made anyway
  (``workers/message_acks.py``), reported as what it adds to ``script``.

CPU is the calling thread's (``time.thread_time``) and the server's (``/proc``, 10 ms ticks),
the median over R repeats, in µs per call. docs/performance.md uses it to say what a round trip
per job is worth against the direct call's whole CPU.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import redis

from broker.bench.procstat import cpu_seconds
from broker.keys import CELERY_UNACKED, CELERY_UNACKED_INDEX
from broker.local_stack import LocalStack
from broker.script_batch import ScriptCall, run_scripts

__all__ = ["measure_round_trips"]

_NOTHING = "return 1"


def _timed(server_pid: int, calls: int, step: Callable[[], object]) -> tuple[float, float]:
    """(client µs, server µs) per call of ``step``."""
    thread_before, server_before = time.thread_time(), cpu_seconds(server_pid)
    for _ in range(calls):
        step()
    client_s = time.thread_time() - thread_before
    server_s = cpu_seconds(server_pid) - server_before
    return 1e6 * client_s / calls, 1e6 * server_s / calls


def measure_round_trips(calls: int = 5_000, repeats: int = 5) -> dict[str, dict[str, float]]:
    """µs of client and server CPU per call of each form (module docstring), medians."""
    from workers.message_acks import MessageAcks  # the bench reaches workers/ only lazily

    with LocalStack() as stack:
        url = stack.start_redis()
        assert stack.redis_process is not None
        pid = stack.redis_process.pid
        client = redis.Redis.from_url(url)
        nothing: list[ScriptCall[Any]] = [
            ScriptCall(client.register_script(_NOTHING), ["k"], ["a"])
        ]
        with_ack = [*nothing, MessageAcks(client).ack_call("tag")]
        run_scripts(client, with_ack)  # loads both scripts

        def kombu_ack() -> object:
            pipe = client.pipeline()
            pipe.zrem(CELERY_UNACKED_INDEX, "tag")
            pipe.hdel(CELERY_UNACKED, "tag")
            return pipe.execute()

        forms: dict[str, Callable[[], object]] = {
            "script": lambda: run_scripts(client, nothing),
            "kombu_ack": kombu_ack,
            "script_and_ack": lambda: run_scripts(client, with_ack),
        }
        samples: dict[str, list[tuple[float, float]]] = {name: [] for name in forms}
        for _ in range(repeats):  # interleaved, so that a slow minute hits every form
            for name, step in forms.items():
                samples[name].append(_timed(pid, calls, step))
        client.close()
    found = {
        name: {
            "client_us": round(statistics.median(c for c, _ in runs), 1),
            "server_us": round(statistics.median(s for _, s in runs), 1),
        }
        for name, runs in samples.items()
    }
    both, alone = found.pop("script_and_ack"), found["script"]
    found["ack_in_batch"] = {
        "client_us": round(both["client_us"] - alone["client_us"], 1),
        "server_us": round(both["server_us"] - alone["server_us"], 1),
    }
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--calls", type=int, default=5_000, help="calls per form and repeat")
    parser.add_argument("--repeats", type=int, default=5, help="repeats (medians reported)")
    options = parser.parse_args()
    for name, cost in measure_round_trips(options.calls, options.repeats).items():
        print(f"{name:14} client {cost['client_us']:7.1f} µs   redis {cost['server_us']:7.1f} µs")


if __name__ == "__main__":
    main()
