"""What the integration tests share: fast settings for a stack, the emulator's control API,
resetting the providers' shared health, and waiting for a condition."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from typing import Any

import httpx
import redis

from broker.catalog_file import load_catalog
from broker.client import CascadeClient
from broker.local_stack import LocalStack, free_port
from broker.settings import Settings

__all__ = [
    "FAST_ENV",
    "Emulator",
    "client_for",
    "forget_provider_health",
    "fresh_emulator",
    "serve_api",
    "wait_for",
]

# Retries, redelivery (visibility timeout) and claims play out in seconds, not minutes.
FAST_ENV = {
    "CASCADE_BASE_BACKOFF_S": "0.05",
    "CASCADE_MAX_BACKOFF_S": "0.2",
    "CASCADE_MAX_RETRY_AFTER_S": "3",
    "CASCADE_VISIBILITY_TIMEOUT_S": "8",
    "CASCADE_RESTORE_INTERVAL_S": "1",
    "CASCADE_CLAIM_TTL_S": "5",
}


class Emulator:
    """The emulator's control API, as the tests use it."""

    def __init__(self, url: str) -> None:
        self.url = url

    def reset(self) -> None:
        httpx.post(f"{self.url}/_emulator/reset").raise_for_status()

    def faults(self, *rules: dict[str, Any]) -> None:
        httpx.post(f"{self.url}/_emulator/faults", json={"rules": list(rules)}).raise_for_status()

    def latency(self, **body: Any) -> None:
        httpx.post(f"{self.url}/_emulator/latency", json=body).raise_for_status()

    def calls(self, *, times: bool = False) -> dict[str, Any]:
        params = {"times": "1"} if times else {}
        response = httpx.get(f"{self.url}/_emulator/calls", params=params, timeout=30)
        response.raise_for_status()
        counts: dict[str, Any] = response.json()
        return counts

    def answered(self) -> int:
        return int(self.calls()["by_status"].get("200", 0))


def forget_provider_health(redis_url: str) -> None:
    """Each test starts with closed circuits, empty rate limits and every key in rotation:
    what one test's faults taught the shared state must not decide the next test."""
    client = redis.Redis.from_url(redis_url)
    for pattern in ("cascade:circuit:*", "cascade:ratelimit:*", "cascade:keypool:*"):
        for key in client.scan_iter(pattern):
            client.delete(key)
    client.close()


def wait_for(check: Callable[[], Any], timeout: float, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"{what}: not met within {timeout:g}s")


@contextmanager
def client_for(stack: LocalStack, config: str) -> Iterator[CascadeClient]:
    """A client of the stack's Redis, the catalog's emulated profile on the stack's emulator."""
    settings = Settings(
        redis_url=stack.redis_url,
        config=config,
        profile="emulated",
        emulator_url=stack.emulator_url,
    )
    catalog = load_catalog(config, "emulated", emulator_url=stack.emulator_url)
    with closing(CascadeClient(settings, catalog)) as client:
        yield client


@contextmanager
def fresh_emulator(stack: LocalStack) -> Iterator[Emulator]:
    """The stack's emulator with no faults, no counts, and providers in good health, before and
    after the test."""
    control = Emulator(stack.emulator_url)
    control.reset()
    forget_provider_health(stack.redis_url or "")
    yield control
    control.reset()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@contextmanager
def serve_api(stack: LocalStack, *options: str) -> Iterator[str]:
    """``cascade api`` as a real uvicorn process on the stack, until the block ends; its URL."""
    port = free_port()
    log = stack.log_path("api").open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "broker", "api", "--port", str(port), *options],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=stack.env(),
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _answers(f"{base}/openapi.json"), 20, "the API answers")
        yield base
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)
        log.close()
