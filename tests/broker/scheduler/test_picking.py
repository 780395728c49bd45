"""The picking rules as pure functions: priority with a starvation bound, weighted fair shares
between tenants (stride scheduling), work conservation."""

from __future__ import annotations

from collections import Counter

from broker.jobs import Priority
from broker.scheduler.picking import PickPolicy, QueueSnapshot, choose_level, plan_picks

HI, S, B = Priority.INTERACTIVE, Priority.STANDARD, Priority.BULK


def snapshot(
    waiting: dict[Priority, dict[str, int]], picks: int = 0, passes: dict[str, float] | None = None
) -> QueueSnapshot:
    return QueueSnapshot(0, picks, waiting, passes or {})


def test_the_highest_waiting_priority_is_served_on_every_ordinary_pick() -> None:
    assert [choose_level([True, True, True], n, 10) for n in (1, 2, 9, 11)] == [0, 0, 0, 0]
    assert choose_level([False, True, True], 3, 10) == 1
    assert choose_level([False, False, False], 1, 10) is None


def test_every_nth_pick_serves_the_next_level_down_and_every_n_squared_two_down() -> None:
    assert choose_level([True, True, True], 10, 10) == 1
    assert choose_level([True, True, True], 100, 10) == 2
    assert choose_level([True, False, True], 10, 10) == 2  # the next level that has work
    assert choose_level([True, False, False], 10, 10) == 0  # nothing lower: no pick is wasted


def test_a_bulk_backlog_under_an_endless_interactive_one_gets_one_pick_in_every_n() -> None:
    picks = plan_picks(snapshot({HI: {"a": 10_000}, B: {"a": 10_000}}), 1000, PickPolicy(every=10))

    assert Counter(pick.priority for pick in picks) == {HI: 900, B: 100}
    # never more than N-1 picks in a row go past the waiting bulk job
    positions = [index for index, pick in enumerate(picks) if pick.priority is B]
    assert max(b - a for a, b in zip(positions, positions[1:], strict=False)) == 10


def test_an_interactive_job_goes_before_a_bulk_backlog_of_the_same_tenant() -> None:
    picks = plan_picks(snapshot({HI: {"a": 1}, B: {"a": 500}}), 3, PickPolicy())

    assert [pick.priority for pick in picks] == [HI, B, B]


def test_equal_weights_alternate_between_tenants() -> None:
    picks = plan_picks(snapshot({B: {"a": 100, "b": 100}}), 6, PickPolicy())

    assert [pick.tenant for pick in picks] == ["a", "b", "a", "b", "a", "b"]


def test_weights_three_to_one_give_three_picks_in_four() -> None:
    policy = PickPolicy(weights={"a": 3.0})
    picks = plan_picks(snapshot({B: {"a": 1000, "b": 1000}}), 400, policy)

    assert Counter(pick.tenant for pick in picks) == {"a": 300, "b": 100}
    assert {pick.stride for pick in picks if pick.tenant == "a"} == {1 / 3}


def test_a_tenant_alone_gets_every_pick_and_one_that_runs_out_leaves_the_rest_to_others() -> None:
    alone = plan_picks(snapshot({S: {"a": 50}}), 8, PickPolicy(weights={"b": 100.0}))
    short = plan_picks(snapshot({S: {"a": 2, "b": 50}}), 8, PickPolicy())

    assert [pick.tenant for pick in alone] == ["a"] * 8
    assert [pick.tenant for pick in short] == ["a", "b", "a", "b", "b", "b", "b", "b"]


def test_the_tenant_with_the_lowest_pass_goes_first_and_fewer_picks_come_when_less_waits() -> None:
    passes = {"bulk:a": 40.0, "bulk:b": 38.0}
    picks = plan_picks(snapshot({B: {"a": 1, "b": 1}}, passes=passes), 8, PickPolicy())

    assert [pick.tenant for pick in picks] == ["b", "a"]


def test_the_pick_counter_carries_the_starvation_bound_across_top_ups() -> None:
    waiting = {HI: {"a": 100}, S: {"a": 100}}

    assert [p.priority for p in plan_picks(snapshot(waiting, picks=8), 3, PickPolicy())] == [
        HI,
        S,
        HI,
    ]
