"""``cascade route`` shows the first target's price windows and whether the job would wait for a
cheaper one (routing/offpeak.py); ``cascade usage`` shows what the windows saved."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml

from broker.keys import Keys
from tests.broker.test_cli import CATALOG, cascade


def windowed(tmp_path: Path, starts_in: timedelta) -> tuple[str, datetime]:
    """The test catalog with a1 at half price for two hours from ``starts_in`` from now."""
    opens = (datetime.now(UTC) + starts_in).replace(microsecond=0)
    data: dict[str, Any] = yaml.safe_load(Path(CATALOG).read_text())
    data["models"][0]["price_windows"] = [{
        "start": opens.strftime("%H:%M:%S"), "multiplier": 0.5,
        "end": (opens + timedelta(hours=2)).strftime("%H:%M:%S"),
    }]
    path = tmp_path / "catalog.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path), opens


def price_line(*args: str, config: str) -> str:
    shown = cascade("route", "--model", "a1", "--no-live", *args, "Hi.", config=config)
    assert shown.returncode == 0, shown.stderr
    (line,) = [line for line in shown.stdout.splitlines() if line.startswith("price windows")]
    return line


def test_route_says_a_job_with_a_day_to_go_waits_for_the_window_and_what_it_saves(
    tmp_path: Path,
) -> None:
    config, opens = windowed(tmp_path, timedelta(hours=1))
    line = price_line("--deadline-in", "86400", config=config)
    assert line.startswith(f"price windows of a1 ({opens:%H:%M:%S}-")
    assert f"waits for the off-peak window at {opens:%H:%M:%S} UTC (in " in line
    assert "saves ~50%" in line


def test_route_says_why_a_job_runs_now(tmp_path: Path) -> None:
    config, _ = windowed(tmp_path, timedelta(hours=1))
    opted = price_line("--deadline-in", "86400", "--no-offpeak", config=config)
    assert opted.endswith("runs now: the job opted out (needs.offpeak: never)")
    close = price_line("--deadline-in", "3700", config=config)
    assert "starts after" in close and "30m00s margin" in close
    already, _ = windowed(tmp_path, timedelta(minutes=-10))
    assert "the off-peak window is in force until" in price_line(
        "--window", "24h", config=already)


def test_route_prints_no_price_line_for_a_model_without_windows() -> None:
    shown = cascade("route", "--model", "a1", "--no-live", "--window", "24h", "Hi.")
    assert shown.returncode == 0, shown.stderr
    assert "price windows" not in shown.stdout


@pytest.mark.integration
def test_usage_lists_what_price_windows_saved_per_tenant(redis_url: str) -> None:
    url = redis_url.rsplit("/", 1)[0] + "/4"
    client = redis.Redis.from_url(url)
    client.hset(Keys().offpeak_saved(), "acme", 1_250_000)  # $0.00125
    try:
        shown = cascade("usage", redis_url=url, columns=120)
    finally:
        client.delete(Keys().offpeak_saved())
        client.close()
    assert shown.returncode == 0, shown.stderr
    assert "saved by price windows" in shown.stdout
    assert "acme" in shown.stdout and "0.001250" in shown.stdout
