"""How a bench leg opens its slots: every one at once, or evenly over a ramp (pure schedule)."""

from __future__ import annotations

import asyncio

import pytest

from broker.bench.ramp import next_opening_s, ramped_gate, slots_open


def test_without_a_ramp_every_slot_is_open_from_the_start() -> None:
    assert slots_open(256, 0.0, 0.0) == 256
    assert next_opening_s(256, 0.0, 0.0) is None


def test_a_ramp_opens_one_slot_at_its_start_and_every_slot_by_its_end() -> None:
    opened = [slots_open(256, 1.0, t / 10) for t in range(12)]

    assert opened[0] == 1
    assert opened == sorted(opened)  # never closes one
    assert opened[5] == 129  # half way: half the slots
    assert opened[10:] == [256, 256]


def test_the_next_opening_is_when_the_open_count_next_grows() -> None:
    wait = next_opening_s(4, 1.0, 0.1)

    assert wait is not None and wait == pytest.approx(0.15)  # slot 2 opens at 0.25 s
    assert slots_open(4, 1.0, 0.1 + wait) == 2
    assert next_opening_s(4, 1.0, 0.8) is None  # the last one opened at 0.75 s


def test_a_ramped_gate_admits_no_more_calls_than_it_has_opened_slots() -> None:
    async def admitted(ramp_s: float) -> int:
        async with ramped_gate(8, ramp_s) as gate:
            await asyncio.sleep(0)  # the opener's first turn
            count = 0
            while not gate.locked():
                await gate.acquire()
                count += 1
            return count

    async def run() -> tuple[int, int]:
        return await admitted(0.0), await admitted(60.0)

    assert asyncio.run(run()) == (8, 1)
