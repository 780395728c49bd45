"""Queue names: one Redis queue per (tier, provider), named ``<tier>.<provider>``."""

from __future__ import annotations

from routing.catalog import Catalog

__all__ = ["all_queues", "queue_name", "queues_for_provider"]


def queue_name(tier: str, provider: str) -> str:
    return f"{tier}.{provider}"


def _tier_providers(catalog: Catalog, tier: str) -> list[str]:
    providers: list[str] = []
    for model_name in catalog.tiers[tier].models:
        provider = catalog.model(model_name).provider
        if provider not in providers:
            providers.append(provider)
    return providers


def queues_for_provider(catalog: Catalog, provider: str) -> list[str]:
    """Every ``<tier>.<provider>`` for the tiers that list a model of the provider, in tier order.

    A provider the catalog does not have raises ``UnknownNameError``; one that is in no tier
    has no queue and gets an empty list.
    """
    catalog.provider(provider)
    return [
        queue_name(tier, provider)
        for tier in catalog.tiers
        if provider in _tier_providers(catalog, tier)
    ]


def all_queues(catalog: Catalog) -> list[str]:
    """Every queue of the catalog: tiers in declared order, providers in first-listed order."""
    return [
        queue_name(tier, provider)
        for tier in catalog.tiers
        for provider in _tier_providers(catalog, tier)
    ]
