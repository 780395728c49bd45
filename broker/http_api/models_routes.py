"""``GET /v1/models`` and ``GET /v1/models/{id}``: the names a chat completion's ``model`` takes.

Every tier and every catalog model is listed, in OpenAI's Model object (``id``, ``object``,
``created``, ``owned_by``), so that ``client.models.list()`` and ``models.retrieve()`` work, with
what a caller chooses by as extra fields: capabilities, context window, output limit and prices
in USD per million tokens. A tier shows what its route can offer: any capability one of its
models has, the largest window, and its models in fallback order.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from broker.http_api.errors import ApiError
from broker.http_api.state import state_of, tenant_of
from routing.catalog import Catalog, ModelConfig

__all__ = ["ROUTES", "model_object", "model_objects"]

# The catalog has no creation date; OpenAI's field is required, so it is the epoch.
_CREATED = 0


def _model(model: ModelConfig) -> dict[str, Any]:
    return {
        "id": model.name,
        "object": "model",
        "created": _CREATED,
        "owned_by": model.provider,
        "kind": "model",
        "provider": model.provider,
        "provider_model_id": model.model_id,
        "capabilities": sorted(str(item) for item in model.capabilities),
        "context_window": model.context_window,
        "max_output_tokens": model.max_output_tokens,
        "pricing": {
            "input_per_mtok_usd": model.price.input,
            "output_per_mtok_usd": model.price.output,
        },
        "quality": model.quality,
    }


def _range(prices: list[float]) -> dict[str, float]:
    # A tier's price depends on which of its models answers: the cheapest and the dearest.
    return {"min": min(prices), "max": max(prices)}


def _tier(name: str, catalog: Catalog) -> dict[str, Any]:
    tier = catalog.tiers[name]
    models = [catalog.model(item) for item in tier.models]
    outputs = [item.max_output_tokens for item in models if item.max_output_tokens is not None]
    return {
        "id": name,
        "object": "model",
        "created": _CREATED,
        "owned_by": "cascade",
        "kind": "tier",
        "description": tier.description,
        "models": list(tier.models),
        "fallback": tier.fallback,
        "policy": tier.policy,
        "capabilities": sorted({str(cap) for item in models for cap in item.capabilities}),
        "context_window": max(item.context_window for item in models),
        "max_output_tokens": max(outputs) if outputs else None,
        "pricing": {
            "input_per_mtok_usd": _range([item.price.input for item in models]),
            "output_per_mtok_usd": _range([item.price.output for item in models]),
        },
    }


def model_objects(catalog: Catalog) -> list[dict[str, Any]]:
    """Tiers first (the names most callers use), then catalog models, each by name."""
    return [_tier(name, catalog) for name in sorted(catalog.tiers)] + [
        _model(item) for item in sorted(catalog.models, key=lambda item: item.name)
    ]


def model_object(name: str, catalog: Catalog) -> dict[str, Any] | None:
    if name in catalog.tiers:
        return _tier(name, catalog)
    found = [item for item in catalog.models if item.name == name]
    return _model(found[0]) if found else None


async def list_models(request: Request) -> Response:
    """The tiers and catalog models a chat completion's `model` may name.
    ---
    summary: List models (tiers and catalog models)
    responses: {200: {description: a list of model objects with capabilities and prices}}
    """
    tenant_of(request)
    data = model_objects(state_of(request).client.catalog)
    return JSONResponse({"object": "list", "data": data})


async def retrieve_model(request: Request) -> Response:
    """One tier or catalog model.
    ---
    summary: Retrieve a model
    responses: {200: {description: the model object}, 404: {description: no such model}}
    """
    tenant_of(request)
    name = request.path_params["model_id"]
    found = model_object(name, state_of(request).client.catalog)
    if found is None:
        raise ApiError(
            404,
            f"The model {name!r} does not exist: name a cascade tier or catalog model"
            " (GET /v1/models lists them)",
            param="model",
            code="model_not_found",
        )
    return JSONResponse(found)


ROUTES = [
    Route("/v1/models", list_models, methods=["GET"]),
    Route("/v1/models/{model_id:path}", retrieve_model, methods=["GET"]),
]
