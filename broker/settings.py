"""Runtime settings, read once from ``CASCADE_*`` environment variables into one typed object."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from broker.worker_pool import pool_refusal

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
    result_ttl_s: int = Field(default=7 * 24 * 3600, ge=1)
    # The dead-letter set keeps the newest this many failed jobs (and none older than the
    # result TTL), so that a run of failures cannot grow it without bound.
    dead_letters_max: int = Field(default=10_000, ge=1)
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
    # Offload to a provider's batch API (routing/offload.py): the time kept before a job's
    # deadline for its synchronous route, and the least a provider batch is given before it.
    # Most provider batches end within the hour (Anthropic's and Gemini's batch pages).
    offload_margin_s: float = Field(default=1800.0, ge=0)
    offload_min_wait_s: float = Field(default=3600.0, ge=0)
    # On by default: it changes nothing where the catalog gives no model a batch price, and
    # where one does, every ``cascade worker`` of that provider runs a poller, so a parked job
    # always has one (docs/ARCHITECTURE.md, "Provider batch offload"). 0 keeps every job on
    # its synchronous route.
    offload_enabled: bool = True
    # The offload poller (broker/offload/): how often it gathers parked jobs into provider
    # batches and checks their fall-back times (Redis only); how often it asks a provider for a
    # batch's status (an HTTP call; a provider's webhook asks at once, so with webhooks this is
    # only the fallback); and how long one instance's lease on a record lasts (a SIGKILLed
    # poller's records are taken over after this).
    offload_poll_s: float = Field(default=5.0, gt=0)
    offload_status_s: float = Field(default=60.0, gt=0)
    offload_lease_s: int = Field(default=60, ge=1)
    # Time-of-day prices (routing/offpeak.py): a job that may wait is held until a cheaper
    # price window of its first target when that window starts at least the margin before
    # its deadline, the deadline is at least min_deadline away (above the API's longest wait,
    # so no job a caller waits for is held) and the window saves at least min_saving of it.
    offpeak_enabled: bool = True
    offpeak_margin_s: float = Field(default=1800.0, ge=0)
    offpeak_min_deadline_s: float = Field(default=3600.0, ge=0)
    offpeak_min_saving: float = Field(default=0.1, ge=0, lt=1)
    # A streamed job's Redis stream keeps at most about this many entries (XADD MAXLEN ~):
    # an answer of more chunks keeps its stored result whole, only its replay is cut short.
    stream_maxlen: int = Field(default=10_000, ge=100)

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
    # A job submitted to an idle queue (nothing waiting, nothing held due, the list below its
    # depth) goes straight onto the Celery list, as the next top-up would have put it
    # (broker/job_writes.py). Off: every job goes through the scheduler's sets.
    dispatch_direct: bool = True
    # Every Nth pick serves the next priority down (every N²th two down): the starvation bound.
    starvation_every: int = Field(default=10, ge=2)
    # Tenant -> weight for fair shares within a priority (JSON, e.g. {"acme": 3}); others 1.
    tenant_weights: dict[str, float] = Field(default_factory=dict)
    # The dispatcher's safety sweep, for wakes lost while Redis was away.
    dispatch_sweep_s: float = Field(default=1.0, gt=0)
    # A job whose every remaining target is unavailable for now (circuit open, no rate-limit
    # slot soon) is held and looked at again after this long, instead of failing.
    hold_s: float = Field(default=5.0, gt=0)
    # A job held because a spend cap is reached for now (with a deadline or without) waits at
    # most this long from its first hold, or until the cap's day or month ends if sooner, then
    # ends SpendCapReached. Not a countdown message: it may exceed the visibility timeout.
    spend_hold_max_s: float = Field(default=3600.0, gt=0)
    # Such a job looks again after hold_s, then twice as long each time up to this: a freed
    # reservation is noticed within it, and a held backlog costs a delivery per job this often.
    spend_hold_look_max_s: float = Field(default=60.0, gt=0)

    @model_validator(mode="after")
    def _callers_never_wait_for_prices(self) -> Settings:
        if self.offpeak_enabled and self.offpeak_min_deadline_s <= self.api_max_wait_s:
            raise ValueError(
                f"offpeak_min_deadline_s ({self.offpeak_min_deadline_s:g}) must be above "
                f"api_max_wait_s ({self.api_max_wait_s:g}): a job a synchronous caller waits "
                "for would be held for a price window (raise it, or set offpeak_enabled off)"
            )
        return self

    @model_validator(mode="after")
    def _positive_weights(self) -> Settings:
        for tenant, weight in self.tenant_weights.items():
            if weight <= 0:
                raise ValueError(f"tenant_weights.{tenant}: must be above 0, not {weight}")
        return self

    # Celery's task events (task-received, -started, -succeeded, and cascade's own reroute,
    # retry and failure events), which Flower and `celery events` show. Three publishes per
    # job cost about a twentieth of a worker's CPU (docs/performance.md); a deployment that
    # runs no Flower can turn them off (CASCADE_TASK_EVENTS=0). cascade's own job events on
    # its events channel are sent either way.
    task_events: bool = True
    # A folder: each worker times its steps' CPU and writes the sums there when it exits
    # (broker/bench/cpu_probe.py; `cascade bench --cpu-probe`). For measuring, never production.
    cpu_probe_dir: str | None = None
    # A worker's collector, once it is ready: start-up's objects frozen and a young pass after
    # this many container allocations instead of CPython's 700 (workers/gc_tuning.py); 0 keeps
    # CPython's. Cycles wait longer to be freed; reference counting frees everything else.
    worker_gc_threshold: int = Field(default=50_000, ge=0)
    # Connections each process's Redis client may hold at once (broker/redis_clients.py):
    # redis-py 8 allows 100 by default, fewer than a worker's threads. Redis's maxclients
    # (10,000 by default) is the bound that matters.
    redis_max_connections: int = Field(default=10_000, ge=1)
    # No prefork: its children keep calling providers after a SIGKILL of the worker's main
    # process (broker/worker_pool.py refuses it however a worker is started).
    worker_pool: str = Field(default="threads", pattern=r"^(threads|gevent|solo)$")

    @field_validator("worker_pool", mode="before")
    @classmethod
    def _pool_dies_with_its_worker(cls, pool: object) -> object:
        # Before the pattern, so that prefork is refused with the reason, not a regex.
        if isinstance(pool, str) and pool in ("prefork", "processes"):
            raise ValueError(pool_refusal(pool))
        return pool

    worker_concurrency: int | None = Field(default=None, ge=1)

    # --- pipelines (broker/pipelines/) ---
    # The jobs' done events advance pipelines; this sweep only catches what an event missed
    # (a driver down when a step ended, a lost subscription).
    pipeline_sweep_interval_s: float = Field(default=5.0, gt=0)
    # How long one driver holds a pipeline while it advances it; another driver waits for it.
    pipeline_lock_ttl_s: int = Field(default=30, ge=1)

    # --- webhooks (broker/webhooks/) ---
    # Webhook targets that would be refused otherwise (loopback, private ranges, internal
    # names): CIDRs, addresses or exact host names, comma-separated. Empty: public targets only.
    webhook_allow: Annotated[tuple[str, ...], NoDecode] = ()
    # Senders per dispatcher, and how many of them one tenant's deliveries may hold at once:
    # the rest stay free for other tenants, however slow one tenant's receiver is.
    webhook_concurrency: int = Field(default=16, ge=1)
    webhook_tenant_in_flight: int = Field(default=4, ge=1)
    # Events wake the dispatcher; this sweep only catches what an event missed (every
    # dispatcher down when a job ended; each also sweeps when it (re)subscribes). It reads every
    # watched subject, so it is kept slow.
    webhook_sweep_interval_s: float = Field(default=120.0, gt=0)
    # Given-up deliveries (without their body) are kept this long, and at most this many.
    webhook_failed_ttl_s: int = Field(default=7 * 24 * 3600, ge=60)
    webhook_failed_max: int = Field(default=10_000, ge=1)

    @field_validator("webhook_allow", mode="before")
    @classmethod
    def _split_allowlist(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(item for item in value.replace(" ", ",").split(",") if item)
        return value

    # --- what one HTTP API request may carry (docs/operations.md, "Limits") ---------------
    # OpenAI's Batch API takes an input file of up to 50,000 requests and 200 MB
    # (platform.openai.com/docs/api-reference/batch/create, "input_file_id"); cascade's files
    # exist only to feed batches, so an upload is held to the same size.
    api_max_upload_bytes: int = Field(default=200 * 1024 * 1024, ge=1)
    batch_max_lines: int = Field(default=50_000, ge=1)
    # A JSON body (a job, a chat completion, a wait): inline images make them large, but
    # nothing legitimate comes near this.
    api_max_body_bytes: int = Field(default=32 * 1024 * 1024, ge=1)
    api_max_json_depth: int = Field(default=64, ge=2)
    # Waits (jobs/wait, ?wait=, chat completions, event streams) hold no thread, but each holds
    # a Redis subscription: one tenant may hold this many at once in one API process.
    api_max_waits_per_tenant: int = Field(default=100, ge=1)
    api_max_wait_s: float = Field(default=600.0, gt=0)
