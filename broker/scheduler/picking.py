"""Which waiting job goes next: pure rules over a snapshot of one queue's waiting work.

Three rules, applied in this order for every pick:

1. **Priority, with a starvation bound.** The highest priority with work waiting is served,
   except that every ``every``-th pick passes over it for the next one down (and every
   ``every``²-th pick over two levels). A lower priority therefore gets at least one pick in
   ``every`` (bulk under both others: one in ``every``²), however long the higher backlog is.
2. **Weighted fair share between tenants** within the priority: stride scheduling. Each tenant
   has a *pass*; the tenant with the lowest pass is served and its pass grows by
   ``1 / weight``. While several tenants wait, each gets picks in proportion to its weight; a
   tenant alone gets them all (work-conserving). A tenant that comes back after a pause starts
   at the pass of the last pick (set when its jobs are written), so it earns no credit for the
   time it had nothing waiting.
3. **Earliest deadline first** within a tenant: the waiting sets are sorted by deadline, then
   arrival, so the dispatcher's script takes each set's head.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from broker.jobs import Priority

__all__ = ["LEVELS", "Pick", "PickPolicy", "QueueSnapshot", "choose_level", "plan_picks"]

# Highest first.
LEVELS: tuple[Priority, ...] = (Priority.INTERACTIVE, Priority.STANDARD, Priority.BULK)


@dataclass(frozen=True, slots=True)
class PickPolicy:
    """``every``: the starvation bound; ``weights``: tenant -> weight (1.0 when not named)."""

    every: int = 10
    weights: Mapping[str, float] = field(default_factory=dict)

    def weight(self, tenant: str) -> float:
        return self.weights.get(tenant, 1.0)


@dataclass(frozen=True, slots=True)
class QueueSnapshot:
    """One queue's waiting work as read in one step: jobs already on the Celery list, picks so
    far, and per priority each waiting tenant's job count and pass."""

    queued: int
    picks: int
    waiting: Mapping[Priority, Mapping[str, int]]
    passes: Mapping[str, float]  # "<priority>:<tenant>" -> pass
    held: int = 0  # jobs in the queue's held set, due or not

    def total_waiting(self) -> int:
        return sum(sum(tenants.values()) for tenants in self.waiting.values())


@dataclass(frozen=True, slots=True)
class Pick:
    """Take the head of ``tenant``'s jobs at ``priority``; its pass grows by ``stride``."""

    priority: Priority
    tenant: str
    stride: float


def choose_level(waiting: Sequence[bool], pick_number: int, every: int) -> int | None:
    """The index (into ``waiting``, highest priority first) of the level pick ``pick_number``
    serves, or None when nothing waits."""
    levels = [index for index, has_work in enumerate(waiting) if has_work]
    if not levels:
        return None
    skip, number = 0, pick_number
    while skip < len(levels) - 1 and every > 1 and number % every == 0:
        skip += 1
        number //= every
    return levels[skip]


def plan_picks(snapshot: QueueSnapshot, count: int, policy: PickPolicy) -> list[Pick]:
    """The next ``count`` picks (fewer when less is waiting), in the order they are served."""
    left = {level: dict(snapshot.waiting.get(level, {})) for level in LEVELS}
    passes = dict(snapshot.passes)
    picks: list[Pick] = []
    number = snapshot.picks
    while len(picks) < count:
        waiting = [any(n > 0 for n in left[level].values()) for level in LEVELS]
        index = choose_level(waiting, number + 1, policy.every)
        if index is None:
            break
        level = LEVELS[index]
        tenant = _lowest_pass(level, left[level], passes)
        stride = 1.0 / policy.weight(tenant)
        key = f"{level.value}:{tenant}"
        passes[key] = passes.get(key, 0.0) + stride
        left[level][tenant] -= 1
        picks.append(Pick(level, tenant, stride))
        number += 1
    return picks


def _lowest_pass(level: Priority, tenants: Mapping[str, int], passes: Mapping[str, float]) -> str:
    waiting = [tenant for tenant, n in tenants.items() if n > 0]
    return min(waiting, key=lambda tenant: (passes.get(f"{level.value}:{tenant}", 0.0), tenant))
