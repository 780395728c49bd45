"""``cascade api`` says at start when no tenant is configured: every request would get a 401."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from broker.local_stack import free_port

pytestmark = pytest.mark.integration

CATALOG = str(Path(__file__).parents[2] / "fixtures" / "catalog.yaml")
_TENANT_VARIABLES = ("CASCADE_API_KEYS", "CASCADE_TENANTS_FILE", "CASCADE_WEBHOOK_SECRETS")


def _start_output(redis_url: str, tmp_path: Path, **extra: str) -> str:
    """What ``cascade api`` printed until uvicorn had started (it is stopped then)."""
    env = {key: value for key, value in os.environ.items() if key not in _TENANT_VARIABLES}
    env.update({"CASCADE_REDIS_URL": redis_url, "CASCADE_CONFIG": CATALOG,
                "CASCADE_PROFILE": "emulated", "CASCADE_EMULATOR_URL": "http://127.0.0.1:1",
                **extra})
    log = tmp_path / "api.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "broker", "api", "--port", str(free_port()), "--no-webhooks"],
            stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 30
        while "Application startup complete" not in log.read_text() and process.poll() is None:
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)
    return log.read_text()


def test_cascade_api_warns_at_start_when_no_tenant_is_configured(
    redis_url: str, tmp_path: Path
) -> None:
    shown = _start_output(redis_url, tmp_path)

    assert "warning: no tenant is configured" in shown
    assert "refused with 401" in shown and "CASCADE_API_KEYS" in shown
    assert "Application startup complete" in shown


def test_cascade_api_does_not_warn_when_a_tenant_is_configured(
    redis_url: str, tmp_path: Path
) -> None:
    shown = _start_output(redis_url, tmp_path, CASCADE_API_KEYS="acme=sk-acme")

    assert "Application startup complete" in shown
    assert "no tenant is configured" not in shown


def test_cascade_api_refuses_a_malformed_tenant_variable_naming_it(
    redis_url: str, tmp_path: Path
) -> None:
    shown = _start_output(redis_url, tmp_path, CASCADE_API_KEYS="acme")

    assert "error: CASCADE_API_KEYS[0]: expected tenant=value" in shown
    assert "Traceback" not in shown
