"""Route policies: the order in which a tier's capable targets are tried.

* ``ordered``: the order the tier declares.
* ``cheapest``: the lowest estimated cost first (the filters have already removed targets over
  ``max_cost_usd`` or under ``min_quality``).
* ``fastest``: the lowest recently observed latency first; a target never observed yet comes
  after every observed one, so a new model is tried only when the known ones fail.

Every policy is a stable sort, so targets that tie keep their declared order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from routing.catalog import RoutePolicy

__all__ = ["POLICIES", "order_by_policy"]

T = TypeVar("T")

POLICIES: tuple[RoutePolicy, ...] = ("ordered", "cheapest", "fastest")


def order_by_policy(
    policy: RoutePolicy,
    items: Sequence[T],
    *,
    cost: Callable[[T], float],
    latency: Callable[[T], float | None],
) -> list[T]:
    """``items`` (in declared order) reordered by ``policy``."""
    if policy == "cheapest":
        return sorted(items, key=cost)
    if policy == "fastest":
        return sorted(items, key=lambda item: _latency_key(latency(item)))
    return list(items)


def _latency_key(seconds: float | None) -> tuple[int, float]:
    return (1, 0.0) if seconds is None else (0, seconds)
