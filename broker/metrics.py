"""Prometheus metrics: what each worker observes, and what Redis holds, for one scrape each.

Two sources, because each number is only true in one place:

- **Worker processes** count what they did (calls, retries, reroutes, job ends, cost, tokens,
  latency, circuit state) with the ``observe_*`` functions and serve them on their own
  ``/metrics`` when ``CASCADE_METRICS_PORT`` is set (``serve_from_env``). Counters are per
  process; Prometheus sums them across workers. The threads pool keeps one process per worker;
  prefork children would each need a port of their own, so cascade does not serve them.
- **``cascade metrics``** reads shared state from Redis at scrape time (``RedisCollector``):
  every ``<tier>.<provider>`` queue's length, messages held unacknowledged, dead letters. One
  exporter per Redis is enough; it holds no state, so it can restart at any time.

Labels are bounded sets (provider, model, tier, outcome, error class): never a job id.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

import redis
from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from broker.keys import CELERY_UNACKED

__all__ = [
    "ATTEMPTS",
    "CALL_SECONDS",
    "CIRCUIT_STATE",
    "CIRCUIT_STATES",
    "COST_USD",
    "JOBS",
    "JOB_SECONDS",
    "METRICS_ADDR_ENV",
    "METRICS_PORT_ENV",
    "REROUTES",
    "RETRIES",
    "TOKENS",
    "RedisCollector",
    "observe_attempt",
    "observe_circuit",
    "observe_job_end",
    "observe_reroute",
    "queue_lists",
    "serve",
    "serve_from_env",
]

METRICS_PORT_ENV = "CASCADE_METRICS_PORT"
METRICS_ADDR_ENV = "CASCADE_METRICS_ADDR"

# Provider calls take from well under a second to minutes (long generations).
_CALL_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300)
# A job's life also includes queueing, backoff and reroutes.
_JOB_BUCKETS = (0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)

# The gauge's value for each circuit state: alerts can say "circuit_state == 2".
CIRCUIT_STATES = {"closed": 0, "half_open": 1, "open": 2}

ATTEMPTS = Counter(
    "cascade_attempts",
    "Provider calls, by what came of them (success, retry, reroute, failed).",
    ["provider", "model", "tier", "outcome", "error_class"],
)
CALL_SECONDS = Histogram(
    "cascade_provider_call_seconds",
    "Duration of one provider call, from request sent to answer parsed or error classified.",
    ["provider", "model", "outcome"],
    buckets=_CALL_BUCKETS,
)
RETRIES = Counter(
    "cascade_retries",
    "Calls followed by another call on the same target.",
    ["provider", "model", "tier", "error_class"],
)
REROUTES = Counter(
    "cascade_reroutes",
    "Jobs moved from one target to the next on their route.",
    ["from_provider", "to_provider", "tier", "error_class"],
)
JOBS = Counter(
    "cascade_jobs",
    "Jobs that ended, by outcome and the provider and tier of their last target.",
    ["outcome", "provider", "tier"],
)
JOB_SECONDS = Histogram(
    "cascade_job_seconds",
    "From a job's creation to its final result: queueing, calls, backoff and reroutes.",
    ["outcome", "tier"],
    buckets=_JOB_BUCKETS,
)
COST_USD = Counter(
    "cascade_cost_usd",
    "Estimated spend in USD from the catalog's prices and the tokens providers reported.",
    ["provider", "model", "tier"],
)
TOKENS = Counter(
    "cascade_tokens",
    "Tokens providers reported, by kind (prompt, completion).",
    ["provider", "model", "kind"],
)
CIRCUIT_STATE = Gauge(
    "cascade_circuit_state",
    "Circuit breaker state as this worker last saw it: 0 closed, 1 half-open, 2 open.",
    ["provider", "model"],
)


class TargetLike(Protocol):
    """What the metrics read from a route target (``broker.jobs.TargetRef`` has these)."""

    @property
    def provider(self) -> str: ...

    @property
    def model(self) -> str: ...

    @property
    def tier(self) -> str: ...


def observe_attempt(
    target: TargetLike, *, outcome: str, duration_s: float, error_class: str | None = None
) -> None:
    """One provider call. ``outcome`` is the attempt's: success, retry, reroute or failed."""
    error = error_class or ""
    ATTEMPTS.labels(target.provider, target.model, target.tier, outcome, error).inc()
    CALL_SECONDS.labels(target.provider, target.model, outcome).observe(duration_s)
    if outcome == "retry":
        RETRIES.labels(target.provider, target.model, target.tier, error).inc()


def observe_reroute(source: TargetLike, destination: TargetLike, *, error_class: str) -> None:
    REROUTES.labels(source.provider, destination.provider, source.tier, error_class).inc()


def observe_job_end(
    target: TargetLike,
    *,
    outcome: str,
    created_at: datetime,
    cost_usd: float = 0.0,
    prompt_tokens: int = 0,
    completion_tokens: int = 0,
    now: datetime | None = None,
) -> None:
    """A job's final result was written (``outcome``: succeeded or failed). ``target`` is the
    last one it reached; the cost and tokens are those of the answering call."""
    ended = now or datetime.now(UTC)
    JOBS.labels(outcome, target.provider, target.tier).inc()
    JOB_SECONDS.labels(outcome, target.tier).observe(max(0.0, (ended - created_at).total_seconds()))
    if cost_usd:
        COST_USD.labels(target.provider, target.model, target.tier).inc(cost_usd)
    if prompt_tokens:
        TOKENS.labels(target.provider, target.model, "prompt").inc(prompt_tokens)
    if completion_tokens:
        TOKENS.labels(target.provider, target.model, "completion").inc(completion_tokens)


def observe_circuit(provider: str, model: str | None, state: str) -> None:
    """A circuit breaker's new state: closed, half_open or open."""
    CIRCUIT_STATE.labels(provider, model or "").set(CIRCUIT_STATES[state])


# --- the exporter's view of Redis -----------------------------------------------------------

# kombu's Redis transport keeps a queue's prioritised messages in lists named
# "<queue>\x06\x16<priority>"; priority 0 is the queue's own name.
_PRIORITY_SEPARATOR = "\x06\x16"
_PRIORITY_STEPS = (3, 6, 9)
# kombu's hash of delivered, unacknowledged messages (restored after the visibility timeout).
_UNACKED = CELERY_UNACKED


def queue_lists(queue: str) -> list[str]:
    """The Redis lists that hold a kombu queue's messages."""
    return [queue, *(f"{queue}{_PRIORITY_SEPARATOR}{step}" for step in _PRIORITY_STEPS)]


class RedisCollector(Collector):
    """Reads queue lengths, unacknowledged messages and dead letters at each scrape, in one
    pipelined round trip."""

    def __init__(self, client: redis.Redis, queues: Sequence[str], dead_letters_key: str) -> None:
        self.client = client
        self.queues = list(queues)
        self.dead_letters_key = dead_letters_key

    def collect(self) -> Iterator[Metric]:
        pipe = self.client.pipeline(transaction=False)
        for queue in self.queues:
            for name in queue_lists(queue):
                pipe.llen(name)
        pipe.hlen(_UNACKED)
        pipe.zcard(self.dead_letters_key)
        try:
            values = [int(value) for value in pipe.execute()]
        except redis.RedisError:
            yield GaugeMetricFamily("cascade_redis_up", "Whether Redis answered this scrape.", 0)
            return
        yield GaugeMetricFamily("cascade_redis_up", "Whether Redis answered this scrape.", 1)
        lengths = GaugeMetricFamily(
            "cascade_queue_length",
            "Messages waiting in a <tier>.<provider> queue (not yet delivered to a worker).",
            labels=["queue", "tier", "provider"],
        )
        per_queue = len(_PRIORITY_STEPS) + 1
        for index, queue in enumerate(self.queues):
            tier, _, provider = queue.partition(".")
            start = index * per_queue
            lengths.add_metric([queue, tier, provider], sum(values[start : start + per_queue]))
        yield lengths
        yield GaugeMetricFamily(
            "cascade_unacked_messages",
            "Messages delivered to workers and not yet acknowledged (running, or waiting for a "
            "retry's countdown); a dead worker's come back after the visibility timeout.",
            values[-2],
        )
        yield GaugeMetricFamily(
            "cascade_dead_letters", "Failed jobs in the dead-letter set.", values[-1]
        )


def serve(port: int, addr: str = "127.0.0.1", registry: CollectorRegistry = REGISTRY) -> Any:
    """Serve ``registry`` on ``http://addr:port/metrics`` from a daemon thread."""
    return start_http_server(port, addr=addr, registry=registry)


def serve_from_env(environ: Mapping[str, str] | None = None) -> bool:
    """Serve this process's metrics if ``CASCADE_METRICS_PORT`` is set (address from
    ``CASCADE_METRICS_ADDR``, loopback by default); returns whether it does."""
    env = os.environ if environ is None else environ
    port = env.get(METRICS_PORT_ENV, "").strip()
    if not port:
        return False
    serve(int(port), env.get(METRICS_ADDR_ENV, "127.0.0.1"))
    return True
