"""The worker's collector settings (workers/gc_tuning.py), applied in this process and undone."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from workers.gc_tuning import DEFAULT_THRESHOLD, tune_collector


@pytest.fixture
def collector() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


def test_a_raised_threshold_freezes_what_exists_and_spaces_the_young_passes(
    collector: None,
) -> None:
    kept = [object() for _ in range(10)]
    thresholds = tune_collector(40_000)
    assert thresholds[0] == 40_000 and gc.get_threshold() == thresholds
    assert gc.get_freeze_count() > len(kept)  # start-up's objects are out of the passes' walk


def test_zero_or_cpythons_own_threshold_leaves_the_collector_as_python_started_it(
    collector: None,
) -> None:
    before = gc.get_threshold()
    assert tune_collector(0) == before
    assert tune_collector(DEFAULT_THRESHOLD) == before
    assert gc.get_freeze_count() == 0
