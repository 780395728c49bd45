"""Queue names per (tier, provider)."""

from __future__ import annotations

import pytest

from routing.catalog import UnknownNameError
from routing.queues import all_queues, queue_name, queues_for_provider
from tests.routing.factories import catalog, catalog_data


def test_a_queue_is_named_tier_dot_provider() -> None:
    assert queue_name("economy", "deepseek") == "economy.deepseek"


def test_a_provider_gets_a_queue_in_every_tier_that_lists_one_of_its_models() -> None:
    loaded = catalog()
    assert queues_for_provider(loaded, "beta") == ["fast.beta", "smart.beta"]
    assert queues_for_provider(loaded, "alpha") == ["fast.alpha"]
    assert queues_for_provider(loaded, "gamma") == ["smart.gamma"]


def test_a_provider_in_no_tier_has_no_queue() -> None:
    data = catalog_data()
    data["providers"]["idle"] = dict(data["providers"]["alpha"])
    assert queues_for_provider(catalog(data), "idle") == []


def test_an_unknown_provider_has_no_queues_but_an_error() -> None:
    with pytest.raises(UnknownNameError, match="unknown provider 'delta'"):
        queues_for_provider(catalog(), "delta")


def test_all_queues_lists_each_tier_provider_pair_once_in_declared_order() -> None:
    data = catalog_data()
    data["tiers"]["smart"]["models"] = ["g1", "b2", "b1"]  # beta twice in smart
    assert all_queues(catalog(data)) == ["fast.alpha", "fast.beta", "smart.gamma", "smart.beta"]
