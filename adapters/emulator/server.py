"""Run the emulator as a real HTTP server (uvicorn), blocking until it is stopped."""

from __future__ import annotations

import logging

import uvicorn

from adapters.emulator.app import create_app
from adapters.emulator.config import EmulatorConfig

__all__ = ["BACKLOG", "run"]

# listen queue: a benchmark opens 1,000+ connections at once
BACKLOG = 4096

# a ``disconnect`` fault returns mid-answer on purpose; uvicorn reports that as an error
_DROPPED_ANSWER_LOG = "ASGI callable returned without completing response."


class _SkipDroppedAnswers(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != _DROPPED_ANSWER_LOG


def run(host: str, port: int, config: EmulatorConfig) -> None:
    """Serve the emulator on ``host:port`` until SIGINT/SIGTERM; no access log."""
    logging.getLogger("uvicorn.error").addFilter(_SkipDroppedAnswers())
    uvicorn.run(
        create_app(config),
        host=host,
        port=port,
        access_log=False,
        backlog=BACKLOG,
        log_level="warning",
        # calls held by ``timeout`` faults must not delay a shutdown for their whole hang
        timeout_graceful_shutdown=1,
        timeout_keep_alive=30,
    )
