"""The catalog's facts about the providers' own batch APIs: limits per provider, price per model.

A provider with ``batch`` set offers a batch API with those documented limits; a model with a
``batch_price`` may be sent through it. Both default to absent, so a catalog that says nothing
about batches never offloads (routing/offload.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["BatchLimits", "batch_problems"]


class BatchLimits(BaseModel):
    """What one provider batch may hold and how long the provider may take over it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # None: the provider documents no count limit (Gemini bounds only the size)
    max_requests: int | None = Field(default=None, gt=0)
    max_bytes: int = Field(gt=0, description="the batch input (file or body), in bytes")
    completion_window_s: float = Field(
        default=24 * 3600, gt=0, description="how long the provider may take over a batch"
    )
    # The variable holding the secret the provider signs its batch webhooks with (OpenAI's
    # ``whsec_...``, Standard Webhooks); None: its batches are only polled. Named, never given,
    # as API keys are.
    webhook_secret_env: str | None = Field(
        default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="environment variable with the provider's webhook signing secret",
    )


class _PriceLike(Protocol):
    @property
    def input(self) -> float: ...

    @property
    def output(self) -> float: ...


class _ModelLike(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def provider(self) -> str: ...

    @property
    def price(self) -> _PriceLike: ...

    @property
    def batch_price(self) -> _PriceLike | None: ...


class _ProviderLike(Protocol):
    @property
    def batch(self) -> BatchLimits | None: ...


def batch_problems(
    models: Sequence[_ModelLike], providers: Mapping[str, _ProviderLike]
) -> list[str]:
    """Each model's batch price that its provider cannot honour or that costs more than the
    synchronous price (always a typo: every provider discounts batches), led by its path."""
    problems: list[str] = []
    for index, model in enumerate(models):
        price = model.batch_price
        provider = providers.get(model.provider)
        if price is None or provider is None:
            continue
        if provider.batch is None:
            problems.append(
                f"models[{index}].batch_price: provider {model.provider!r} has no batch mode; "
                f"give providers.{model.provider}.batch its limits, or drop the batch price"
            )
        for side in ("input", "output"):
            batch_rate, sync_rate = getattr(price, side), getattr(model.price, side)
            if batch_rate > sync_rate:
                problems.append(
                    f"models[{index}].batch_price.{side}: {batch_rate} is above the "
                    f"synchronous price {sync_rate}"
                )
    return problems
