"""The scheduling bench's arithmetic: percentiles, throughput, per-window shares."""

from __future__ import annotations

import math

from broker.bench.sched_stats import Finished, percentile, throughput, window_shares


def done(tenant: str, at: float, made: float = 0.0) -> Finished:
    return Finished(tenant, made, at)


def test_percentile_is_the_nearest_rank() -> None:
    values = [float(n) for n in range(1, 101)]
    assert (percentile(values, 0.5), percentile(values, 0.95), percentile(values, 1.0)) == (
        50.0,
        95.0,
        100.0,
    )
    assert math.isnan(percentile([], 0.95))


def test_throughput_counts_completions_between_the_first_and_the_last() -> None:
    assert throughput([done("a", t / 10) for t in range(11)]) == 10.0
    assert throughput([done("a", 1.0)]) == 0.0


def test_window_shares_cover_only_whole_windows_while_every_tenant_still_finishes_work() -> None:
    jobs = [done("a", t * 0.5) for t in range(60)] + [done("c", t * 1.0) for t in range(21)]
    # c's last completion is at 20 s: two whole 10 s windows, a twice as fast as c in each
    shares = window_shares(jobs, ("a", "c"), 10.0)

    assert shares == [{"a": 20 / 30, "c": 10 / 30}] * 2
    assert window_shares([], ("a", "c"), 10.0) == []
