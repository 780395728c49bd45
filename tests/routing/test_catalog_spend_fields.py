"""The catalog's routing fields: tier policy and escalation, provider and tenant spend caps."""

from __future__ import annotations

import pytest

from routing.catalog import SpendCaps
from tests.routing.factories import catalog, catalog_data


def test_without_the_new_fields_a_catalog_is_ordered_unescalated_and_uncapped() -> None:
    loaded = catalog()
    assert loaded.tiers["fast"].policy == "ordered"
    assert loaded.tiers["fast"].escalate_to is None
    assert loaded.providers["alpha"].spend_caps is None
    assert loaded.tenant_spend_caps("anyone") is None


def test_a_tenants_own_caps_win_over_the_star_caps() -> None:
    data = catalog_data()
    data["tenant_caps"] = {"*": {"usd_per_day": 5}, "acme": {"usd_per_month": 100}}
    loaded = catalog(data)
    assert loaded.tenant_spend_caps("acme") == SpendCaps(usd_per_month=100)
    assert loaded.tenant_spend_caps("other") == SpendCaps(usd_per_day=5)


def test_a_tier_cannot_escalate_to_itself() -> None:
    data = catalog_data()
    data["tiers"]["fast"]["escalate_to"] = "fast"
    with pytest.raises(ValueError, match="escalate_to: a tier cannot escalate to itself"):
        catalog(data)


def test_an_unknown_policy_or_a_zero_cap_is_refused() -> None:
    data = catalog_data()
    data["tiers"]["fast"]["policy"] = "random"
    with pytest.raises(ValueError, match="policy"):
        catalog(data)
    data = catalog_data()
    data["providers"]["alpha"]["spend_caps"] = {"usd_per_day": 0}
    with pytest.raises(ValueError, match="usd_per_day"):
        catalog(data)
