"""Arrival times at the emulator: ``GET /_emulator/calls?times=1`` says when each provider's calls
arrived, so that integration tests can measure a rate limit where the provider would."""

from __future__ import annotations

import itertools

from starlette.testclient import TestClient

from adapters.emulator import EmulatorConfig, create_app
from adapters.emulator.state import ARRIVALS_KEPT, EmulatorState
from tests.adapters.emulator.helpers import chat


def test_calls_without_times_carry_no_arrivals(client: TestClient) -> None:
    chat(client)
    assert "arrivals" not in client.get("/_emulator/calls").json()


def test_calls_with_times_list_each_providers_arrivals_in_order(client: TestClient) -> None:
    chat(client)
    chat(client, path="/deepseek/chat/completions")
    chat(client)

    arrivals = client.get("/_emulator/calls", params={"times": "1"}).json()["arrivals"]

    assert sorted(arrivals) == ["deepseek", "openai"]
    assert len(arrivals["openai"]) == 2 and len(arrivals["deepseek"]) == 1
    assert arrivals["openai"] == sorted(arrivals["openai"])
    assert all(moment > 1_700_000_000 for moment in arrivals["openai"])  # epoch seconds


def test_a_refused_call_still_has_its_arrival_recorded(client: TestClient) -> None:
    client.post("/openai/v1/chat/completions", json={"model": "gpt-5.4", "messages": []})
    assert len(client.get("/_emulator/calls?times=true").json()["arrivals"]["openai"]) == 1


def test_reset_forgets_arrivals() -> None:
    with TestClient(create_app(EmulatorConfig())) as client:
        chat(client)
        client.post("/_emulator/reset")
        assert client.get("/_emulator/calls?times=1").json()["arrivals"] == {}


def test_arrivals_are_read_from_the_states_clock_and_bounded() -> None:
    ticks = itertools.count(1000)
    state = EmulatorState(EmulatorConfig(), clock=lambda: float(next(ticks)))
    for _ in range(ARRIVALS_KEPT + 5):
        state.record_received("openai", "gpt-5.4", None)

    kept = state.calls_snapshot(times=True)["arrivals"]["openai"]

    # the oldest five are dropped; the newest is the last tick
    assert len(kept) == ARRIVALS_KEPT
    assert (kept[0], kept[-1]) == (1005.0, float(1000 + ARRIVALS_KEPT + 4))
