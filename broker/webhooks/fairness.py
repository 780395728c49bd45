"""How a dispatcher shares its free senders out among tenants: a pure decision."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

__all__ = ["share_senders"]


def share_senders(
    due: Sequence[str],
    in_flight: Mapping[str, int],
    *,
    free: int,
    per_tenant: int,
    start: int = 0,
) -> dict[str, int]:
    """How many deliveries to lease for each tenant in ``due``.

    One sender at a time, round robin from ``due[start]`` (the caller moves ``start`` on each
    round, so no tenant is always first), never more than ``per_tenant`` in flight for one
    tenant, never more than ``free`` in all.
    """
    if not due or free <= 0:
        return {}
    first = start % len(due)
    order = [*due[first:], *due[:first]]
    room = {tenant: max(per_tenant - in_flight.get(tenant, 0), 0) for tenant in order}
    wanted = dict.fromkeys(order, 0)
    while free > 0:
        takers = [tenant for tenant in order if wanted[tenant] < room[tenant]]
        if not takers:
            break
        for tenant in takers[:free]:
            wanted[tenant] += 1
        free -= min(free, len(takers))
    return {tenant: count for tenant, count in wanted.items() if count}
