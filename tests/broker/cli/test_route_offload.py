"""``cascade route`` says whether the plan's first target would take the job through its
provider's batch API, and why (routing/offload.py)."""

from __future__ import annotations

from pathlib import Path

from tests.broker.test_cli import cascade

SHIPPED = str(Path(__file__).parents[3] / "broker" / "cascade.yaml")


def test_route_offloads_a_batch_job_with_a_day_to_go_at_the_batch_price() -> None:
    shown = cascade("route", "--model", "gpt-5.4-mini", "--window", "24h", "--no-live", "Hi.",
                    config=SHIPPED)
    assert shown.returncode == 0, shown.stderr
    (line,) = [line for line in shown.stdout.splitlines() if line.startswith("offload:")]
    assert "offloaded to openai's batch API for gpt-5.4-mini" in line
    assert "batch price 0.375/2.25 USD per M tokens against 0.75/4.5" in line


def test_route_keeps_a_job_with_a_close_deadline_or_an_opt_out_synchronous() -> None:
    close = cascade("route", "--model", "gpt-5.4-mini", "--deadline-in", "600", "--no-live",
                    "Hi.", config=SHIPPED)
    assert "offload: not offloaded: the deadline is 9m" in close.stdout
    opted = cascade("route", "--model", "gpt-5.4-mini", "--window", "24h", "--no-offload",
                    "--no-live", "Hi.", config=SHIPPED)
    assert "offload: not offloaded: the job opted out (needs.offload: never)" in opted.stdout


def test_route_refuses_a_malformed_window_naming_the_option() -> None:
    shown = cascade("route", "--tier", "economy", "--window", "2x", "--no-live", "Hi.",
                    config=SHIPPED)
    assert shown.returncode == 3
    assert "--window" in shown.stderr and "'2x'" in shown.stderr
