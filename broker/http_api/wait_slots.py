"""How many waits each tenant holds open in this API process, and the 429 past the bound.

A wait holds no thread, but it does hold a Redis subscription and a connection to the
client; the bound keeps one tenant from taking all of them. Every change happens on the event
loop's thread with no ``await`` between the check and the count, so no lock is needed.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator

from broker.http_api.errors import ApiError

__all__ = ["WaitSlot", "WaitSlots", "released_after"]


class WaitSlot:
    """One wait held by a tenant; ``release`` gives it back (more than once is harmless)."""

    def __init__(self, slots: WaitSlots, tenant: str) -> None:
        self._slots = slots
        self._tenant = tenant
        self._held = True

    def release(self) -> None:
        if self._held:
            self._held = False
            self._slots.give_back(self._tenant)

    def __enter__(self) -> WaitSlot:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class WaitSlots:
    def __init__(self, per_tenant: int) -> None:
        self.per_tenant = per_tenant
        self._held: dict[str, int] = {}

    def held(self, tenant: str) -> int:
        return self._held.get(tenant, 0)

    def take(self, tenant: str) -> WaitSlot:
        """A slot for one more wait of ``tenant``; 429 when it already holds its bound."""
        if self.held(tenant) >= self.per_tenant:
            raise ApiError(
                429,
                f"too many waits at once: this API key's tenant already holds "
                f"{self.per_tenant} (CASCADE_API_MAX_WAITS_PER_TENANT); let one end, or poll "
                "GET /v1/jobs/{id} without wait",
                type="rate_limit_error",
                code="too_many_waits",
                headers={"Retry-After": "1"},
            )
        self._held[tenant] = self.held(tenant) + 1
        return WaitSlot(self, tenant)

    def give_back(self, tenant: str) -> None:
        left = self.held(tenant) - 1
        if left > 0:
            self._held[tenant] = left
        else:
            self._held.pop(tenant, None)


async def released_after(events: AsyncIterator[str], slot: WaitSlot) -> AsyncGenerator[str, None]:
    """``events``, giving ``slot`` back when the stream ends, fails or is dropped."""
    try:
        async for event in events:
            yield event
    finally:
        slot.release()
