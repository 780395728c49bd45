"""An OpenAI (or OpenRouter) chat-completions body as cascade's request and routing needs, and
the ``x-cascade-*`` headers of the answer.

What the SDK's ``extra_body`` adds arrives as top-level keys of the body:

- ``needs``: cascade's own routing needs (``capabilities``, ``max_cost_usd``, ``policy``,
  ``allowed_providers``, ``blocked_providers``, ``min_quality``, ...), as ``/v1/jobs`` takes
  them; the tier or model comes from ``model``.
- ``models``: OpenRouter's fallback list (https://openrouter.ai/docs/guides/routing/
  model-fallbacks): the models to try, in order, once ``model``'s own route is spent; without
  ``model``, the first one is the primary.
- ``provider``: OpenRouter's provider preferences (https://openrouter.ai/docs/features/
  provider-routing): ``order`` -> those providers' targets first, ``allow_fallbacks: false`` ->
  only them; ``only`` -> ``allowed_providers``; ``ignore`` -> ``blocked_providers``; ``sort``
  ``price`` -> policy ``cheapest``, ``latency``/``throughput`` -> ``fastest`` (the one speed cascade
  observes); ``max_price`` ``prompt``/``completion`` (USD per million tokens) -> ``max_price``.
  ``require_parameters`` is what cascade always does (targets that cannot carry a parameter are
  routed around); any other preference is refused by name.
- OpenRouter's ``reasoning`` (``effort``, ``enabled``) becomes ``reasoning_effort``;
  ``usage: {"include": true}``, ``route: "fallback"`` and an empty ``transforms`` are accepted
  (cascade does that anyway).

A model is named as a cascade tier, a catalog model, or ``provider/model`` (OpenRouter's slug,
``anthropic/claude-sonnet-5``), where the part after the slash is a catalog model name or the
provider's own model id.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from broker.jobs import AttemptOutcome, CompletionResult, FailedResult, Priority
from routing.catalog import Catalog

__all__ = ["ROUTING_FIELDS", "CompatError", "job_inputs", "priority_of", "result_headers"]

# body keys that say how to route, not what to ask (OpenRouter's among them)
ROUTING_FIELDS = frozenset(
    {"model", "stream", "needs", "models", "provider", "route", "usage", "transforms", "reasoning"}
)

_SORT_POLICIES: Mapping[str, str] = {
    "price": "cheapest",
    "latency": "fastest",
    "throughput": "fastest",
}
_PROVIDER_KEYS = frozenset(
    {"order", "allow_fallbacks", "only", "ignore", "sort", "max_price", "require_parameters"}
)
_PRICE_SIDES: Mapping[str, str] = {"prompt": "input", "completion": "output"}


class CompatError(ValueError):
    """A body cascade cannot route: ``param`` names the field, ``status`` the HTTP answer."""

    def __init__(
        self, param: str, message: str, *, status: int = 400, code: str | None = None
    ) -> None:
        super().__init__(message)
        self.param = param
        self.message = message
        self.status = status
        self.code = code


def job_inputs(body: Mapping[str, Any], catalog: Catalog) -> tuple[dict[str, Any], dict[str, Any]]:
    """(request fields, routing needs) for a chat-completions ``body``; CompatError when the
    routing part names what the catalog lacks or asks what cascade cannot do."""
    needs = _own_needs(body.get("needs"))
    for key, value in _model_needs(body, catalog).items():
        _merge(needs, key, value, "model")
    for key, value in _provider_needs(body.get("provider"), catalog).items():
        _merge(needs, key, value, "provider")
    request = {key: value for key, value in body.items() if key not in ROUTING_FIELDS}
    request.update(_openrouter_extras(body))
    return request, needs


def result_headers(result: CompletionResult | FailedResult) -> dict[str, str]:
    """The ``x-cascade-*`` headers: the job, who answered it, what it cost, how many attempts."""
    headers = {"x-cascade-job-id": result.job_id, "x-cascade-attempts": str(len(result.attempts))}
    if isinstance(result, CompletionResult):
        answered = [a for a in result.attempts if a.outcome == AttemptOutcome.SUCCESS]
        headers["x-cascade-provider"] = result.provider
        headers["x-cascade-model"] = answered[-1].target.model if answered else result.model
        headers["x-cascade-cost-usd"] = f"{result.cost_usd:.9f}"
    return headers


def _openrouter_extras(body: Mapping[str, Any]) -> dict[str, Any]:
    """OpenRouter's other request fields: ``reasoning.effort`` (or ``enabled``) is
    ``reasoning_effort``; ``usage.include`` and ``route: "fallback"`` are what cascade always
    does; an empty ``transforms`` changes nothing. Anything else there is refused by name."""
    if body.get("route") not in (None, "fallback"):
        raise CompatError("route", "route: only 'fallback' (what models does) is supported")
    if body.get("transforms") not in (None, []):
        raise CompatError("transforms", "transforms are not supported: prompts are sent as given")
    usage = body.get("usage")
    if usage is not None and (not isinstance(usage, dict) or set(usage) - {"include"}):
        raise CompatError("usage", "usage: only {'include': true} (usage is always returned)")
    reasoning = body.get("reasoning")
    if reasoning is None:
        return {}
    if not isinstance(reasoning, dict) or set(reasoning) - {"effort", "enabled"}:
        raise CompatError(
            "reasoning",
            "reasoning: only 'effort' and 'enabled' are supported (as reasoning_effort)",
        )
    if "reasoning_effort" in body:
        raise CompatError("reasoning", "give reasoning or reasoning_effort, not both")
    if reasoning.get("enabled") is False:
        return {"reasoning_effort": "none"}
    return {"reasoning_effort": reasoning.get("effort", "medium")}


# --- the parts of the body --------------------------------------------------------------------


def _own_needs(raw: Any) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise CompatError("needs", "needs must be an object of cascade routing needs")
    for key in ("tier", "model"):
        if key in raw:
            raise CompatError(f"needs.{key}", f"needs.{key}: name the tier or model in 'model'")
    return dict(raw)


def _merge(needs: dict[str, Any], key: str, value: Any, source: str) -> None:
    if key in needs:
        raise CompatError(f"needs.{key}", f"needs.{key} is given twice: in needs and by '{source}'")
    needs[key] = value


def _model_needs(body: Mapping[str, Any], catalog: Catalog) -> dict[str, Any]:
    models = body.get("models")
    if models is not None and (
        not isinstance(models, list) or not all(isinstance(m, str) and m for m in models)
    ):
        raise CompatError("models", "models must be a list of model names")
    chain: list[str] = list(models or [])
    model = body.get("model")
    if model is None and chain:
        model = chain.pop(0)  # OpenRouter: without a model, the list's first is the primary
    kind, primary = _resolve(model, catalog, "model")
    needs: dict[str, Any] = {kind: primary}
    fallbacks: list[str] = []
    offset = len(models or []) - len(chain)
    for position, name in enumerate(chain, start=offset):
        kind, found = _resolve(name, catalog, f"models[{position}]")
        for model in catalog.tiers[found].models if kind == "tier" else [found]:
            if model not in fallbacks:
                fallbacks.append(model)
    if fallbacks:
        needs["fallback_models"] = fallbacks
    return needs


def _resolve(name: Any, catalog: Catalog, param: str) -> tuple[str, str]:
    """("tier" or "model", the catalog's name) for a model field."""
    if not isinstance(name, str) or not name:
        raise CompatError(param, f"{param} must name a cascade tier or catalog model")
    if name in catalog.tiers:
        return "tier", name
    if any(model.name == name for model in catalog.models):
        return "model", name
    provider, _, rest = name.partition("/")
    for model in catalog.models:
        if rest and model.provider == provider and rest in (model.name, model.model_id):
            return "model", model.name
    tiers = ", ".join(sorted(catalog.tiers))
    known = ", ".join(sorted(model.name for model in catalog.models))
    raise CompatError(
        param,
        f"unknown model {name!r}; name a tier ({tiers}), a model ({known}) or provider/model",
        status=404 if param == "model" else 400,
        code="model_not_found",
    )


def _provider_needs(raw: Any, catalog: Catalog) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise CompatError("provider", "provider must be an object of provider preferences")
    unknown = sorted(set(raw) - _PROVIDER_KEYS)
    if unknown:
        raise CompatError(
            f"provider.{unknown[0]}",
            f"provider.{unknown[0]} is not supported by cascade (supported: "
            f"{', '.join(sorted(_PROVIDER_KEYS))})",
        )
    needs = _provider_choice(raw, catalog)
    ignore = _providers(raw, "ignore", catalog, strict=False)
    if ignore:
        needs["blocked_providers"] = ignore
    if raw.get("sort") is not None:
        needs["policy"] = _policy(raw["sort"])
    if raw.get("max_price") is not None:
        needs["max_price"] = _max_price(raw["max_price"])
    return needs


def _provider_choice(raw: Mapping[str, Any], catalog: Catalog) -> dict[str, Any]:
    """``order``, ``allow_fallbacks`` and ``only`` as provider_order and allowed_providers."""
    needs: dict[str, Any] = {}
    order = _providers(raw, "order", catalog, strict=True)
    allowed: list[str] | None = None
    if order:
        needs["provider_order"] = order
        if raw.get("allow_fallbacks") is False:
            allowed = order
    only = _providers(raw, "only", catalog, strict=True)
    if only:
        allowed = only if allowed is None else [name for name in only if name in allowed]
    if allowed is not None:
        needs["allowed_providers"] = allowed
    return needs


def _providers(raw: Mapping[str, Any], key: str, catalog: Catalog, *, strict: bool) -> list[str]:
    value = raw.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise CompatError(f"provider.{key}", f"provider.{key} must be a list of provider names")
    unknown = [name for name in value if name not in catalog.providers]
    if strict and unknown:
        known = ", ".join(sorted(catalog.providers))
        raise CompatError(
            f"provider.{key}", f"provider.{key}: unknown provider {unknown[0]!r}; known: {known}"
        )
    return list(dict.fromkeys(value))


def _policy(sort: Any) -> str:
    by = sort.get("by") if isinstance(sort, dict) else sort
    if not isinstance(by, str) or by not in _SORT_POLICIES:
        raise CompatError(
            "provider.sort", "provider.sort must be 'price', 'latency' or 'throughput'"
        )
    return _SORT_POLICIES[by]


def _max_price(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise CompatError("provider.max_price", "provider.max_price must be an object")
    unknown = sorted(set(raw) - set(_PRICE_SIDES))
    if unknown:
        raise CompatError(
            f"provider.max_price.{unknown[0]}",
            f"provider.max_price.{unknown[0]} is not supported: cascade prices prompt and "
            "completion tokens only",
        )
    return {_PRICE_SIDES[side]: value for side, value in raw.items()}


def priority_of(header: str | None, fields: dict[str, Any]) -> str | None:
    """The job's priority: the ``x-cascade-priority`` header, else ``metadata.priority``, which
    is cascade's and so taken out of the metadata the provider would see."""
    metadata = fields.get("metadata")
    from_body = None
    if isinstance(metadata, dict) and "priority" in metadata:
        rest = {key: value for key, value in metadata.items() if key != "priority"}
        from_body = metadata["priority"]
        if rest:
            fields["metadata"] = rest
        else:
            del fields["metadata"]
    chosen, param = (header, "x-cascade-priority") if header else (from_body, "metadata.priority")
    if chosen is None:
        return None
    if chosen not in {item.value for item in Priority}:
        allowed = ", ".join(item.value for item in Priority)
        raise CompatError(param, f"{param}: {chosen!r} is not a priority; use one of {allowed}")
    return str(chosen)
