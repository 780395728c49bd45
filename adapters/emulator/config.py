"""The emulator's start configuration, its latency settings, and the loader for a config file.

A config file is YAML or JSON (YAML is a superset, so one loader reads both)::

    host: 127.0.0.1
    port: 8089
    hang_s: 30
    latency: {base: 0.2, providers: {openai: 0.5}, models: {"openai/gpt-5.4": 1.0}}
    rules:
      - {provider: openai, model: "*", kind: rate_limit, retry_after: 2, first_n: 3}
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from adapters.emulator.faults import FaultRule
from broker.jobs import format_validation_error

__all__ = [
    "EmulatorConfig",
    "EmulatorConfigError",
    "LatencySettings",
    "latency_for",
    "load_emulator_config",
]


class LatencySettings(BaseModel):
    """Seconds to wait before a successful answer: the most specific setting wins.

    ``models`` keys are ``"provider/model"``; ``providers`` keys are provider names. For a
    streamed answer that wait comes before the headers, and ``chunk_interval_s`` between one
    event and the next (0: all at once), so a stream takes about ``latency + events * interval``.
    """

    model_config = ConfigDict(extra="forbid")

    base: float = Field(default=0.0, ge=0)
    providers: dict[str, float] = Field(default_factory=dict)
    models: dict[str, float] = Field(default_factory=dict)
    chunk_interval_s: float = Field(default=0.0, ge=0)


class EmulatorConfig(BaseModel):
    """What the emulator starts with; ``POST /_emulator/reset`` returns to it."""

    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(default=8089, ge=0, le=65535)
    latency: LatencySettings = Field(default_factory=LatencySettings)
    rules: list[FaultRule] = Field(default_factory=list)
    # how long a ``timeout`` fault holds the connection when its rule does not say
    hang_s: float = Field(default=30.0, ge=0)
    # the ``created`` of every answer: a constant keeps bodies identical across runs
    created: int = Field(default=1_767_225_600, ge=0)


class EmulatorConfigError(ValueError):
    """A config file that cannot be read or does not validate; the message names the field."""


def latency_for(settings: LatencySettings, provider: str, model: str) -> float:
    """The latency for one call: per (provider, model), else per provider, else the base."""
    key = f"{provider}/{model}"
    if key in settings.models:
        return settings.models[key]
    return settings.providers.get(provider, settings.base)


def load_emulator_config(path: str | Path) -> EmulatorConfig:
    """Read and validate an emulator config file (YAML or JSON)."""
    try:
        data: Any = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise EmulatorConfigError(f"{path}: {exc}") from exc
    if data is None:
        data = {}
    try:
        return EmulatorConfig.model_validate(data)
    except ValidationError as exc:
        raise EmulatorConfigError(f"{path}:\n{format_validation_error(exc, data)}") from exc
