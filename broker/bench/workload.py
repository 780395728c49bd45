"""The work every leg sends: one small chat completion per job, to one emulated model."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["MODEL_ID", "PROVIDER", "TIER", "Workload", "bench_catalog"]

PROVIDER = "emu"
MODEL_ID = "emu-chat-1"
TIER = "bench"
# a second provider that no worker consumes: the enqueue measurement fills its queue
IDLE_PROVIDER = "idle"
IDLE_TIER = "enqueue"


@dataclass(frozen=True, slots=True)
class Workload:
    jobs: int
    concurrency: int
    latency_s: float
    ramp_s: float = 0.0  # the leg's slots open evenly over this long (broker/bench/ramp.py)
    prompt: str = "Say hello."
    max_tokens: int = 16

    def request(self) -> dict[str, Any]:
        return {
            "messages": [{"role": "user", "content": self.prompt}],
            "max_tokens": self.max_tokens,
        }

    def openai_body(self) -> dict[str, Any]:
        return {"model": MODEL_ID, **self.request()}


def bench_catalog(concurrency: int) -> dict[str, Any]:
    """A one-model catalog whose provider allows ``concurrency`` calls in flight per worker
    (the HTTP pool is sized from it), with no rate limit, so the bench measures cascade and
    not a limit it was told to keep."""
    timeouts = {"connect": 5, "read": 60, "write": 10, "pool": 60, "total": 120}
    provider = {"wire_format": "openai", "timeouts": timeouts, "concurrency": concurrency}
    return {
        "providers": {
            PROVIDER: {**provider, "base_url": "https://emu.example/v1", "api_key_env": "EMU_KEY"},
            IDLE_PROVIDER: {
                **provider,
                "base_url": "https://idle.example/v1",
                "api_key_env": "IDLE_KEY",
            },
        },
        "models": [
            {
                "name": "m1",
                "provider": PROVIDER,
                "model_id": MODEL_ID,
                "capabilities": [],
                "context_window": 32000,
                "max_output_tokens": 4096,
                "price": {"input": 0.1, "output": 0.4},
            },
            {
                "name": "idle1",
                "provider": IDLE_PROVIDER,
                "model_id": MODEL_ID,
                "capabilities": [],
                "context_window": 32000,
                "max_output_tokens": 4096,
                "price": {"input": 0.1, "output": 0.4},
            },
        ],
        "tiers": {
            TIER: {"description": "the bench's one model", "models": ["m1"]},
            IDLE_TIER: {"description": "queued, never consumed", "models": ["idle1"]},
        },
        "profiles": {"emulated": {"emulator_url": "http://127.0.0.1:8900"}},
    }
