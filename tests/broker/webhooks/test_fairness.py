"""Sharing a dispatcher's free senders among tenants: pure."""

from __future__ import annotations

from broker.webhooks.fairness import share_senders


def test_one_tenants_backlog_gets_at_most_its_in_flight_bound() -> None:
    wanted = share_senders(["a", "b"], {}, free=16, per_tenant=4)

    assert wanted == {"a": 4, "b": 4}


def test_scarce_senders_go_round_robin_one_at_a_time() -> None:
    assert share_senders(["a", "b", "c"], {}, free=2, per_tenant=4) == {"a": 1, "b": 1}
    assert share_senders(["a", "b", "c"], {}, free=2, per_tenant=4, start=2) == {"c": 1, "a": 1}


def test_a_tenant_at_its_bound_gets_nothing_and_leaves_the_senders_to_others() -> None:
    wanted = share_senders(["a", "b"], {"a": 4}, free=12, per_tenant=4)

    assert wanted == {"b": 4}


def test_no_free_sender_or_nothing_due_leases_nothing() -> None:
    assert share_senders(["a"], {}, free=0, per_tenant=4) == {}
    assert share_senders([], {}, free=8, per_tenant=4) == {}

