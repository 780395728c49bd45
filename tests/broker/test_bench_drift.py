"""The bench measures the direct call on both sides of cascade's legs, and says how far the
machine's speed moved between the two (broker/bench/drift.py)."""

from __future__ import annotations

from typing import Any

from broker.bench.drift import DIRECT_AGAIN, drift, leg_order
from broker.bench.report import leg_median


def _leg(cpu_ms: float) -> dict[str, Any]:
    return {"cpu_s_per_job": {"total": cpu_ms / 1000}}


def direct_cpu(runs: list[dict[str, Any]]) -> float | None:
    """The CPU ratio's denominator, as the report takes it (broker/bench/report.py)."""
    return leg_median(runs, ("direct", DIRECT_AGAIN), "cpu_s_per_job", "total", digits=6)


def test_the_direct_leg_runs_again_after_the_cascade_legs() -> None:
    assert leg_order(("direct", "litellm", "cascade"), {}) == [
        ("direct", "direct"),
        ("litellm", "litellm"),
        ("cascade", "cascade"),
        (DIRECT_AGAIN, "direct"),
    ]
    assert leg_order(("direct", "cascade", "cascade-stream"), {})[-1] == (DIRECT_AGAIN, "direct")


def test_no_second_direct_leg_without_a_cascade_leg_after_the_first() -> None:
    assert leg_order(("direct",), {}) == [("direct", "direct")]
    assert leg_order(("direct", "litellm"), {}) == [("direct", "direct"), ("litellm", "litellm")]
    assert leg_order(("cascade", "direct"), {}) == [("cascade", "cascade"), ("direct", "direct")]


def test_a_skipped_leg_is_left_out_of_the_order() -> None:
    assert leg_order(("direct", "litellm", "cascade"), {"litellm": "not installed"}) == [
        ("direct", "direct"),
        ("cascade", "cascade"),
        (DIRECT_AGAIN, "direct"),
    ]


def test_the_direct_call_s_cpu_is_the_median_over_both_sides_of_every_repeat() -> None:
    runs = [
        {"direct": _leg(2.0), "cascade": _leg(6.0), DIRECT_AGAIN: _leg(1.6)},
        {"direct": _leg(1.8), "cascade": _leg(5.5), DIRECT_AGAIN: _leg(1.7)},
    ]

    assert direct_cpu(runs) == 0.00175  # the median of 2.0, 1.6, 1.8 and 1.7 ms
    assert direct_cpu([{"direct": _leg(2.0)}]) == 0.002  # one side only: that one
    assert direct_cpu([{"cascade": _leg(5.0)}]) is None


def test_a_change_beyond_a_tenth_makes_the_run_s_ratios_uncertain() -> None:
    moved = drift([{"direct": _leg(2.0), DIRECT_AGAIN: _leg(1.6)}])

    assert moved == {
        "repeats": [{"before_ms": 2.0, "after_ms": 1.6, "change": -0.2}],
        "largest_change": -0.2,
        "uncertain": True,
    }


def test_a_steady_machine_leaves_the_ratios_certain_and_the_largest_change_is_reported() -> None:
    moved = drift(
        [
            {"direct": _leg(2.0), DIRECT_AGAIN: _leg(2.1)},
            {"direct": _leg(2.0), DIRECT_AGAIN: _leg(1.9)},
            {"direct": _leg(2.0), DIRECT_AGAIN: _leg(1.88)},
        ]
    )

    assert moved is not None
    assert moved["largest_change"] == -0.06 and moved["uncertain"] is False


def test_no_drift_without_the_direct_call_on_both_sides() -> None:
    assert drift([{"direct": _leg(2.0), "cascade": _leg(5.0)}]) is None
    assert drift([]) is None
