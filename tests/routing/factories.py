"""Small catalogs and jobs for the routing tests, built from plain data."""

from __future__ import annotations

import copy
from typing import Any

from broker.jobs import CompletionJob
from routing.catalog import Catalog

__all__ = ["Clock", "catalog", "catalog_data", "job"]

_DATA: dict[str, Any] = {
    "providers": {
        "alpha": {
            "wire_format": "openai",
            "base_url": "https://alpha.example/v1",
            "api_key_env": "ALPHA_API_KEY",
        },
        "beta": {
            "wire_format": "openai",
            "base_url": "https://beta.example/v1",
            "api_key_env": ["BETA_API_KEY", "BETA_API_KEY_2"],
        },
        "gamma": {
            "wire_format": "openai",
            "base_url": "https://gamma.example",
            "api_key_env": "GAMMA_API_KEY",
        },
    },
    "models": [
        {
            "name": "a1",
            "provider": "alpha",
            "model_id": "alpha-small-1",
            "capabilities": ["tools", "json_object"],
            "context_window": 16000,
            "max_output_tokens": 4096,
            "price": {"input": 0.10, "output": 0.40},
        },
        {
            "name": "b1",
            "provider": "beta",
            "model_id": "beta-fast-1",
            "capabilities": ["vision", "tools", "json_object", "json_schema"],
            "context_window": 32000,
            "max_output_tokens": 4096,
            "price": {"input": 0.20, "output": 0.80},
        },
        {
            "name": "g1",
            "provider": "gamma",
            "model_id": "gamma-large-1",
            "capabilities": ["vision", "tools", "json_object", "json_schema"],
            "context_window": 200000,
            "max_output_tokens": 16384,
            "price": {"input": 3.00, "output": 15.00},
        },
        {
            "name": "b2",
            "provider": "beta",
            "model_id": "beta-large-2",
            "capabilities": ["vision", "tools", "json_object", "json_schema"],
            "context_window": 128000,
            "max_output_tokens": 8192,
            "price": {"input": 2.00, "output": 8.00},
        },
    ],
    "tiers": {
        "fast": {"models": ["a1", "b1"], "fallback": "smart"},
        "smart": {"models": ["g1", "b2"]},
    },
    "profiles": {"emulated": {"emulator_url": "http://127.0.0.1:8900"}},
}


def catalog_data() -> dict[str, Any]:
    """A fresh, mutable copy of the test catalog's data."""
    return copy.deepcopy(_DATA)


def catalog(data: dict[str, Any] | None = None) -> Catalog:
    return Catalog.model_validate(catalog_data() if data is None else data)


def job(
    text: str = "Say hello.",
    *,
    needs: dict[str, Any] | None = None,
    **request: Any,
) -> CompletionJob:
    """A job for tier ``fast`` unless ``needs`` says otherwise; ``request`` adds request fields."""
    body: dict[str, Any] = {"messages": [{"role": "user", "content": text}], **request}
    return CompletionJob.model_validate(
        {"needs": needs if needs is not None else {"tier": "fast"}, "request": body}
    )


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
