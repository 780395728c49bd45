"""What the integration tests share: fast settings for a stack, the emulator's control API,
resetting the providers' shared health, and waiting for a condition."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager, suppress
from pathlib import Path
from typing import Any

import httpx
import redis
import yaml

from broker.catalog_file import load_catalog
from broker.client import CascadeClient
from broker.local_stack import LocalStack, free_port
from broker.settings import Settings

__all__ = [
    "FAST_ENV",
    "FIXTURE_CATALOG",
    "Emulator",
    "catalog_with_daily_cap",
    "api_process",
    "api_server",
    "client_for",
    "forget_provider_health",
    "fresh_emulator",
    "stack_on_database",
    "wait_for",
]

FIXTURE_CATALOG = Path(__file__).parents[1] / "fixtures" / "catalog.yaml"

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


def catalog_with_daily_cap(directory: Path, provider: str, usd_per_day: float) -> str:
    """The test catalog with a daily spend cap on ``provider``, written under ``directory``."""
    data: dict[str, Any] = yaml.safe_load(FIXTURE_CATALOG.read_text())
    data["providers"][provider]["spend_caps"] = {"usd_per_day": usd_per_day}
    path = directory / "catalog.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


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


@contextmanager
def stack_on_database(
    redis_url: str,
    db: int,
    *,
    config: str,
    log_dir: Path,
    workers: dict[str, tuple[str, int]] | None = None,
    env: dict[str, str] | None = None,
) -> Iterator[LocalStack]:
    """A stack on database ``db`` (flushed) of the session's Redis, with the emulator and the
    ``workers`` (label -> provider, concurrency; none by default) running, with ``FAST_ENV``.
    A module that starts workers needs a database of its own: Celery's queue names carry no
    prefix."""
    url = redis_url.rsplit("/", 1)[0] + f"/{db}"
    with closing(redis.Redis.from_url(url)) as connection:
        connection.flushdb()
    extra = {**FAST_ENV, **(env or {})}
    with LocalStack(config=config, redis_url=url, log_dir=log_dir, extra_env=extra) as stack:
        stack.start_redis()
        stack.start_emulator()
        for label, (provider, concurrency) in (workers or {}).items():
            stack.start_worker(provider, name=label, concurrency=concurrency)
        if workers:
            stack.wait_for_workers()
        yield stack


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@contextmanager
def api_server(stack: LocalStack, *options: str) -> Iterator[str]:
    """``cascade api`` as a real uvicorn process on the stack's environment and a free port,
    logging to the stack's ``api`` log; its base URL once it answers, stopped on exit."""
    with api_process(stack, *options) as (base, _process):
        yield base


@contextmanager
def api_process(stack: LocalStack, *options: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``api_server``, with the process too (a test that kills it); its own session, so a
    signal to its group reaches every uvicorn process. Stopped on exit unless already dead."""
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
        wait_for(lambda: _answers(f"{base}/openapi.json"), 20, "the API")
        yield base, process
    finally:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)
        log.close()
