"""The round-trip cost bench against a private redis-server: every form measured, client CPU
counted, and the ack in a batch reported as what it adds to a round trip made anyway."""

from __future__ import annotations

import pytest

from broker.bench.round_trip_cost import measure_round_trips

pytestmark = pytest.mark.integration


def test_the_bench_reports_client_and_server_cpu_per_call_of_every_form() -> None:
    found = measure_round_trips(calls=200, repeats=1)

    assert set(found) == {"script", "kombu_ack", "ack_in_batch"}
    assert found["script"]["client_us"] > 0 and found["kombu_ack"]["client_us"] > 0
    # /proc counts the server's CPU in 10 ms ticks: 200 calls may cost it under one tick
    assert all(cost["server_us"] >= 0 for name, cost in found.items() if name != "ack_in_batch")
