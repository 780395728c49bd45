"""The model catalog: providers, models, tiers and profiles, validated as one consistent whole.

The catalog holds no secret. A provider names the environment variables its keys live in;
the only key a catalog may carry is the placeholder an emulator profile puts there, and the
file itself can never set one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from broker.jobs import Capability
from routing.batch_facts import BatchLimits, batch_problems
from routing.catalog_checks import (
    cycle_problems,
    escalation_problems,
    model_problems,
    tier_problems,
    untiered_problems,
)
from routing.catalog_checks import known as _known
from routing.circuit import CircuitPolicy
from routing.prefill import prefill_problems
from routing.price_windows import PriceWindow, window_problems
from routing.rate_limit import RateLimitConfig

__all__ = [
    "ALLOW_PLACEHOLDER_KEY",
    "Catalog",
    "EscalationRule",
    "MissingApiKeyError",
    "ModelConfig",
    "Price",
    "Profile",
    "ProviderConfig",
    "RoutePolicy",
    "SpendCaps",
    "TierConfig",
    "Timeouts",
    "UnknownNameError",
]

# Validation context key that lets a serialized profiled catalog be read back; a file never has it.
ALLOW_PLACEHOLDER_KEY = "allow_placeholder_key"

# Tier and provider names make up queue names "<tier>.<provider>": no dots, no spaces.
_QUEUE_PART = r"^[A-Za-z0-9][A-Za-z0-9_-]*$"
QueuePart = Annotated[str, Field(pattern=_QUEUE_PART, max_length=64)]
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class UnknownNameError(KeyError):
    """A provider, model, tier or profile the catalog lacks; the message lists those it has."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class MissingApiKeyError(LookupError):
    """None of a provider's key variables is set in the environment."""


def _http_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an http:// or https:// URL with a host")
    return url.rstrip("/")


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Price(_Frozen):
    """USD per million tokens."""

    input: float = Field(ge=0)
    output: float = Field(ge=0)


class Timeouts(_Frozen):
    """httpx timeouts in seconds; ``total`` bounds one call, retries excluded."""

    connect: float = Field(default=5, gt=0)
    read: float = Field(default=60, gt=0)
    write: float = Field(default=10, gt=0)
    pool: float = Field(default=10, gt=0)
    total: float = Field(default=120, gt=0)
    # Plain calls only: the longest wait from the request to the response headers, apart from
    # ``read`` (the longest silence once they came). A provider that accepts the connection and
    # never answers is given up after this, not after ``read``; a plain answer comes with its
    # headers only once it is generated, so a provider whose answers take longer (reasoning
    # models, long outputs) needs a larger value (workers/calls.py).
    headers: float = Field(default=6, gt=0)
    # Streamed calls only: the longest wait for the first token (from the request, headers and
    # role chunk included), and the longest silence between two reads once it came. A stream
    # reads with the smaller of the two as httpx's read timeout, so either fails the call over
    # promptly and frees the worker's slot (workers/stream_calls.py).
    first_token: float = Field(default=30, gt=0)
    stream_idle: float = Field(default=30, gt=0)


class SpendCaps(_Frozen):
    """Most a provider (or a tenant) may spend per UTC day and calendar month, in USD and tokens.

    A cap left out is no cap. Past ``near_fraction`` of any cap, jobs marked non-critical go to
    other (cheaper) targets; at a cap, the provider is skipped (routing/spend.py).
    """

    usd_per_day: float | None = Field(default=None, gt=0)
    usd_per_month: float | None = Field(default=None, gt=0)
    tokens_per_day: int | None = Field(default=None, gt=0)
    tokens_per_month: int | None = Field(default=None, gt=0)
    near_fraction: float = Field(default=0.9, gt=0, le=1)


RoutePolicy = Literal["ordered", "cheapest", "fastest"]


class EscalationRule(_Frozen):
    """When a job asked of a tier goes to the tier's ``escalate_to`` instead: any one suffices."""

    prompt_tokens_over: int | None = Field(default=None, ge=0)
    tools: bool = Field(default=False, description="the request carries tools")
    images: bool = Field(default=False, description="the request carries images")
    hint: bool = Field(default=True, description="honour needs.complexity_hint")


class ProviderConfig(_Frozen):
    wire_format: str = Field(min_length=1)
    base_url: str
    api_key_env: str | list[str]
    timeouts: Timeouts = Timeouts()
    concurrency: int = Field(default=64, ge=1, description="calls in flight per worker")
    max_retries: int = Field(default=2, ge=0, description="retries on the same target")
    # A call that timed out already cost its whole time limit: retrying it as often as a fast
    # 5xx would hold the job for minutes before its fallback is tried.
    max_timeout_retries: int = Field(
        default=1, ge=0, description="retries after a timeout, within max_retries"
    )
    options: dict[str, str | int | float | bool] = Field(default_factory=dict)
    placeholder_key: str | None = Field(
        default=None, description="set by an emulator profile only, never by the file"
    )
    spend_caps: SpendCaps | None = None
    # Shared by every worker through Redis (routing/rate_limit.py, routing/circuit_store.py).
    rate_limit: RateLimitConfig | None = None
    circuit: CircuitPolicy = CircuitPolicy()
    # The provider's own batch API and its documented limits; None: no offload to it.
    batch: BatchLimits | None = None

    @field_validator("base_url")
    @classmethod
    def _base_url_is_http(cls, url: str) -> str:
        return _http_url(url)

    @field_validator("api_key_env")
    @classmethod
    def _names_not_keys(cls, value: str | list[str]) -> str | list[str]:
        names = [value] if isinstance(value, str) else value
        if not names:
            raise ValueError("name at least one environment variable")
        for name in names:
            if not _ENV_NAME.match(name):
                # The value is not echoed: it may be a key pasted in by mistake.
                raise ValueError(
                    "is not an environment variable name: name the variable that holds a key "
                    "(e.g. OPENAI_API_KEY), never the key itself"
                )
        return value

    @field_validator("placeholder_key")
    @classmethod
    def _placeholder_only_from_a_profile(cls, key: str | None, info: ValidationInfo) -> str | None:
        allowed = isinstance(info.context, Mapping) and info.context.get(ALLOW_PLACEHOLDER_KEY)
        if key is not None and not allowed:
            raise ValueError("is set by a profile (profiles.<name>.api_key), not in providers")
        return key

    @property
    def key_env_names(self) -> tuple[str, ...]:
        """The key variables in rotation order."""
        return (self.api_key_env,) if isinstance(self.api_key_env, str) else tuple(self.api_key_env)

    def api_keys(self, environ: Mapping[str, str]) -> list[str]:
        """The keys to rotate through: the profile's placeholder, or every key variable that is set.

        An empty variable counts as unset. Raises ``MissingApiKeyError`` naming the variables when
        none is set.
        """
        if self.placeholder_key is not None:
            return [self.placeholder_key]
        keys = [environ[name] for name in self.key_env_names if environ.get(name)]
        if not keys:
            names = self.key_env_names
            wanted = names[0] if len(names) == 1 else "one of " + ", ".join(names)
            raise MissingApiKeyError(f"no API key: set the environment variable {wanted}")
        return keys


class ModelConfig(_Frozen):
    name: str = Field(min_length=1, description="the catalog's own name, unique")
    provider: str = Field(min_length=1)
    model_id: str = Field(min_length=1, description="the provider's id for the model")
    capabilities: frozenset[Capability] = frozenset()
    context_window: int = Field(gt=0)
    max_output_tokens: int | None = Field(default=None, gt=0)
    price: Price
    quality: float | None = Field(default=None, ge=0, le=1)
    # Set: the model may go through its provider's batch API, billed at this price.
    batch_price: Price | None = None
    # The model continues a trailing assistant message: a broken stream goes on there from
    # the text its caller already has instead of restarting (routing/prefill.py).
    prefill: bool = False
    # Times of day it is billed at another price (routing/price_windows.py); a provider batch
    # is billed at its batch price whatever the time.
    price_windows: tuple[PriceWindow, ...] = ()

    @model_validator(mode="after")
    def _output_fits_window(self) -> ModelConfig:
        if self.max_output_tokens is not None and self.max_output_tokens > self.context_window:
            raise ValueError(
                f"max_output_tokens {self.max_output_tokens} exceeds "
                f"context_window {self.context_window}"
            )
        return self


class TierConfig(_Frozen):
    models: list[str] = Field(min_length=1, description="catalog model names, fallback order")
    fallback: str | None = None
    description: str = ""
    policy: RoutePolicy = "ordered"
    escalate_to: str | None = None
    escalate_when: EscalationRule = EscalationRule()

    @field_validator("models")
    @classmethod
    def _no_repeats(cls, models: list[str]) -> list[str]:
        repeated = sorted({name for name in models if models.count(name) > 1})
        if repeated:
            raise ValueError(f"lists {', '.join(repeated)} more than once")
        return models


class Profile(_Frozen):
    """Points every provider at an emulator: ``{emulator_url}/{provider}{path of base_url}``."""

    emulator_url: str
    api_key: str = Field(default="emulated", min_length=1)

    @field_validator("emulator_url")
    @classmethod
    def _emulator_is_http(cls, url: str) -> str:
        return _http_url(url)


class Catalog(_Frozen):
    providers: dict[QueuePart, ProviderConfig] = Field(min_length=1)
    models: list[ModelConfig] = Field(min_length=1)
    tiers: dict[QueuePart, TierConfig] = Field(min_length=1)
    profiles: dict[str, Profile] = Field(default_factory=dict)
    # tenant name -> caps; "*" applies to every tenant not named
    tenant_caps: dict[str, SpendCaps] = Field(default_factory=dict)
    # Tenants whose jobs never go to a provider's batch API (routing/offload.py), or never
    # wait for a cheaper price window (routing/offpeak.py).
    offload_opt_out_tenants: frozenset[str] = frozenset()
    offpeak_opt_out_tenants: frozenset[str] = frozenset()

    @model_validator(mode="after")
    def _consistent(self) -> Catalog:
        problems = [
            *model_problems(self.models, self.providers),
            *tier_problems(self.tiers, self.models),
            *cycle_problems(self.tiers),
            *escalation_problems(self.tiers),
            *untiered_problems(self.models, self.tiers),
            *batch_problems(self.models, self.providers),
            *prefill_problems(self.models, self.providers),
            *window_problems(self.models),
        ]
        if problems:
            # One custom error with every problem, each led by its path, so a caller fixes all
            # of them in one go; PydanticCustomError keeps pydantic's "Value error," prefix off.
            raise PydanticCustomError("catalog", "{problems}", {"problems": "\n".join(problems)})
        return self

    # --- lookups --------------------------------------------------------------------------

    def model(self, name: str) -> ModelConfig:
        for model in self.models:
            if model.name == name:
                return model
        known = _known(model.name for model in self.models)
        raise UnknownNameError(f"unknown model {name!r}; known models: {known}")

    def provider(self, name: str) -> ProviderConfig:
        if name not in self.providers:
            raise UnknownNameError(
                f"unknown provider {name!r}; known providers: {_known(self.providers)}"
            )
        return self.providers[name]

    def tier(self, name: str) -> TierConfig:
        if name not in self.tiers:
            raise UnknownNameError(f"unknown tier {name!r}; known tiers: {_known(self.tiers)}")
        return self.tiers[name]

    def tiers_of(self, model_name: str) -> list[str]:
        """The tiers that list the model, in declared tier order."""
        self.model(model_name)
        return [name for name, tier in self.tiers.items() if model_name in tier.models]

    def tier_chain(self, name: str) -> list[str]:
        """The tier, then its fallback, then that one's, and so on (validation rules out cycles)."""
        chain = [name]
        fallback = self.tier(name).fallback
        while fallback is not None:
            chain.append(fallback)
            fallback = self.tiers[fallback].fallback
        return chain

    def tenant_spend_caps(self, tenant: str) -> SpendCaps | None:
        """The tenant's own caps, else the ``"*"`` caps, else none."""
        return self.tenant_caps.get(tenant, self.tenant_caps.get("*"))

    # --- profiles -------------------------------------------------------------------------

    def with_profile(self, name: str, *, emulator_url: str | None = None) -> Catalog:
        """The catalog with a profile applied; ``emulator_url`` overrides the profile's URL."""
        if name not in self.profiles:
            raise UnknownNameError(
                f"unknown profile {name!r}; known profiles: {_known(self.profiles)}"
            )
        profile = self.profiles[name]
        return self.with_emulator(emulator_url or profile.emulator_url, api_key=profile.api_key)

    def with_emulator(self, emulator_url: str, *, api_key: str = "emulated") -> Catalog:
        """Every provider sent to ``{emulator_url}/{provider}{path of its base_url}``, keyless."""
        root = _http_url(emulator_url)
        providers = {
            name: provider.model_copy(
                update={
                    "base_url": f"{root}/{name}{urlsplit(provider.base_url).path.rstrip('/')}",
                    "placeholder_key": api_key,
                }
            )
            for name, provider in self.providers.items()
        }
        return self.model_copy(update={"providers": providers})

    @classmethod
    def from_dict(cls, data: Any, *, allow_placeholder_key: bool = False) -> Catalog:
        """Validate plain data; ``allow_placeholder_key`` only to read back a dumped catalog."""
        return cls.model_validate(data, context={ALLOW_PLACEHOLDER_KEY: allow_placeholder_key})
