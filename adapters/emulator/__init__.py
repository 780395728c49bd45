"""A provider emulator: a real HTTP server that plays the LLM providers for tests, demos and
benchmarks, with deterministic answers, configurable latency and injected faults.

``create_app(config)`` makes the ASGI app, ``run(host, port, config)`` serves it, and
``load_emulator_config(path)`` reads a YAML/JSON config file. See ``app.py`` for the call flow
and ``control.py`` for the control API under ``/_emulator/``.
"""

from adapters.emulator.app import JOB_ID_HEADER, create_app, emulator_state
from adapters.emulator.config import (
    EmulatorConfig,
    EmulatorConfigError,
    LatencySettings,
    latency_for,
    load_emulator_config,
)
from adapters.emulator.faults import FaultRule, FaultRules
from adapters.emulator.server import run

__all__ = [
    "JOB_ID_HEADER",
    "EmulatorConfig",
    "EmulatorConfigError",
    "FaultRule",
    "FaultRules",
    "LatencySettings",
    "create_app",
    "emulator_state",
    "latency_for",
    "load_emulator_config",
    "run",
]
