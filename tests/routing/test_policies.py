"""Route policies as pure orderings: declared order, cheapest first, fastest first; stable ties."""

from __future__ import annotations

from routing.policies import order_by_policy

ITEMS = ["a", "b", "c", "d"]
COST = {"a": 3.0, "b": 1.0, "c": 1.0, "d": 2.0}
LATENCY: dict[str, float | None] = {"a": 0.5, "b": None, "c": 0.2, "d": 0.5}


def _order(policy: str) -> list[str]:
    return order_by_policy(
        policy,  # type: ignore[arg-type]
        ITEMS,
        cost=COST.__getitem__,
        latency=LATENCY.__getitem__,
    )


def test_ordered_keeps_the_declared_order() -> None:
    assert _order("ordered") == ["a", "b", "c", "d"]


def test_cheapest_puts_the_lowest_estimate_first_and_ties_keep_declared_order() -> None:
    assert _order("cheapest") == ["b", "c", "d", "a"]


def test_fastest_puts_observed_latency_first_and_never_observed_targets_last() -> None:
    assert _order("fastest") == ["c", "a", "d", "b"]


def test_an_empty_list_stays_empty_under_every_policy() -> None:
    for policy in ("ordered", "cheapest", "fastest"):
        assert order_by_policy(policy, [], cost=lambda _: 0.0, latency=lambda _: None) == []
