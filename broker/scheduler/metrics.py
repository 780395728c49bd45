"""The scheduler's waiting work as Prometheus gauges, read from Redis at each scrape.

Registered by ``cascade metrics`` next to ``broker.metrics.RedisCollector``. The tenant label
is bounded by the tenants a deployment serves (the same set its API keys name)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import redis
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from broker.scheduler.deferred import DeferredJobs
from broker.scheduler.holds import HeldJobs
from broker.scheduler.state import SchedulerState

__all__ = ["SchedulerCollector"]


class SchedulerCollector(Collector):
    """``cascade_scheduled_jobs{queue, tier, provider, priority, tenant}``: jobs waiting in the
    scheduler, not yet on their Celery queue; ``cascade_held_jobs{queue, tier, provider}``:
    jobs held because no target can take them for now;
    ``cascade_price_window_jobs{queue, tier, provider}``: jobs waiting for a cheaper price
    window to open."""

    def __init__(self, state: SchedulerState, queues: Sequence[str]) -> None:
        self.state = state
        self.held = HeldJobs(state.client, state.keys)
        self.deferred = DeferredJobs(state.client, state.keys)
        self.queues = list(queues)

    def collect(self) -> Iterator[Metric]:
        try:
            counts = self.state.waiting(self.queues)
            held = self.held.counts(self.queues)
            deferred = self.deferred.counts(self.queues)
        except redis.RedisError:
            return  # cascade_redis_up (RedisCollector) says Redis did not answer
        gauge = GaugeMetricFamily(
            "cascade_scheduled_jobs",
            "Jobs waiting in the scheduler for a queue, per priority and tenant (not yet on "
            "the <tier>.<provider> queue, whose length is cascade_queue_length).",
            labels=["queue", "tier", "provider", "priority", "tenant"],
        )
        for count in counts:
            tier, _, provider = count.queue.partition(".")
            labels = [count.queue, tier, provider, count.priority.value, count.tenant]
            gauge.add_metric(labels, count.jobs)
        yield gauge
        holds = GaugeMetricFamily(
            "cascade_held_jobs",
            "Jobs held for a queue until their next look (every target unavailable for now).",
            labels=["queue", "tier", "provider"],
        )
        for queue, n in held.items():
            tier, _, provider = queue.partition(".")
            holds.add_metric([queue, tier, provider], n)
        yield holds
        later = GaugeMetricFamily(
            "cascade_price_window_jobs",
            "Jobs held back for a queue until a cheaper price window of their model opens.",
            labels=["queue", "tier", "provider"],
        )
        for queue, (n, _) in deferred.items():
            tier, _, provider = queue.partition(".")
            later.add_metric([queue, tier, provider], n)
        yield later
