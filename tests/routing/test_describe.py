"""The tiers as plain rows for ``cascade routes``."""

from __future__ import annotations

from routing.describe import TierRow, describe_tiers
from tests.routing.factories import catalog


def test_each_tier_lists_its_route_with_fallback_targets_marked() -> None:
    rows = describe_tiers(catalog())
    assert rows == [
        TierRow("fast", 0, "a1", "alpha", "fast.alpha", False, "fast"),
        TierRow("fast", 1, "b1", "beta", "fast.beta", False, "fast"),
        TierRow("fast", 2, "g1", "gamma", "smart.gamma", True, "smart"),
        TierRow("fast", 3, "b2", "beta", "smart.beta", True, "smart"),
        TierRow("smart", 0, "g1", "gamma", "smart.gamma", False, "smart"),
        TierRow("smart", 1, "b2", "beta", "smart.beta", False, "smart"),
    ]
