"""Runtime settings, read once from ``CASCADE_*`` environment variables into one typed object."""

from __future__ import annotations

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings"]


class Settings(BaseSettings):
    """Everything a producer or worker needs besides the catalog. Secrets are not kept here:
    API keys are read from the variables the catalog names, when a worker needs them."""

    model_config = SettingsConfigDict(env_prefix="CASCADE_", frozen=True, extra="ignore")

    redis_url: str = "redis://127.0.0.1:6379/0"
    config: str | None = Field(default=None, description="path of cascade.yaml")
    profile: str | None = Field(default=None, description="a catalog profile, e.g. 'emulated'")
    emulator_url: str | None = Field(
        default=None, description="with the emulated profile: where the emulator listens"
    )
    key_prefix: str = Field(default="cascade", pattern=r"^[A-Za-z0-9_.-]+$")
    result_ttl_s: int = Field(default=7 * 24 * 3600, ge=60)
    # Redis re-delivers an unacknowledged message after this long: it must exceed the longest
    # call plus every backoff, or a slow job runs twice (Celery with Redis, late ack).
    visibility_timeout_s: int = Field(default=3600, ge=1)
    # How often a worker sweeps Redis for messages a dead worker left unacknowledged.
    restore_interval_s: int = Field(default=10, ge=1)
    # How long a stopping worker lets its running calls finish before it hands their messages
    # back (Celery's soft shutdown).
    soft_shutdown_s: float = Field(default=30.0, ge=0)
    # A retry's wait is capped far below the visibility timeout for the same reason.
    max_backoff_s: float = Field(default=30.0, gt=0)
    base_backoff_s: float = Field(default=0.5, gt=0)
    # The longest Retry-After cascade waits for on one target before it reroutes instead.
    max_retry_after_s: float = Field(default=60.0, gt=0)
    # How long a worker's claim on a running job lasts: a delivery that finds the job claimed
    # looks again after this. It bounds how long a job waits after its worker died mid-call,
    # so it should exceed the longest call, and stay below the visibility timeout.
    claim_ttl_s: int = Field(default=300, ge=1)
    # How old the planner's view of circuits, spend caps and latencies may be when a producer
    # plans a job. Workers check circuits and caps again before every call, so stale state
    # costs a skipped hop at most; 0 reads Redis for every submit.
    live_state_max_age_s: float = Field(default=1.0, ge=0)

    @model_validator(mode="after")
    def _waits_below_visibility_timeout(self) -> Settings:
        limit = self.visibility_timeout_s
        for name in ("claim_ttl_s", "max_backoff_s", "max_retry_after_s", "hold_s"):
            if getattr(self, name) >= limit:
                raise ValueError(
                    f"{name} ({getattr(self, name)}) must stay below visibility_timeout_s"
                    f" ({limit}): a message held longer than that is delivered twice"
                )
        return self

    # --- the scheduler (broker/scheduler/) ---
    # Messages each Celery queue is kept topped up to. A job picked for the queue waits behind
    # at most this many, so it bounds how late an urgent job overtakes; too small and the
    # workers idle between top-ups.
    dispatch_depth: int = Field(default=8, ge=1)
    # Every Nth pick serves the next priority down (every N²th two down): the starvation bound.
    starvation_every: int = Field(default=10, ge=2)
    # Tenant -> weight for fair shares within a priority (JSON, e.g. {"acme": 3}); others 1.
    tenant_weights: dict[str, float] = Field(default_factory=dict)
    # The dispatcher's safety sweep, for wakes lost while Redis was away.
    dispatch_sweep_s: float = Field(default=1.0, gt=0)
    # A job whose every remaining target is unavailable for now (circuit open, no rate-limit
    # slot soon) is held and looked at again after this long, instead of failing.
    hold_s: float = Field(default=5.0, gt=0)

    @model_validator(mode="after")
    def _positive_weights(self) -> Settings:
        for tenant, weight in self.tenant_weights.items():
            if weight <= 0:
                raise ValueError(f"tenant_weights.{tenant}: must be above 0, not {weight}")
        return self

    worker_pool: str = Field(default="threads", pattern=r"^(threads|gevent|prefork|solo)$")
    worker_concurrency: int | None = Field(default=None, ge=1)
