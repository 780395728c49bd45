"""The HTTP clients a worker calls providers with: bounded by the provider's timeouts, split
into small pools, and stateless between calls.

Stateless: a provider's ``Set-Cookie`` (Cloudflare's ``__cf_bm`` on api.openai.com, say) is
never kept. A worker's clients carry every tenant's calls under every key of the provider, so a
cookie one call earned must not ride along on the next; and reading cookies off every response
(httpx builds urllib request and response stand-ins for its cookie jar each time) was about a
tenth of the runner's CPU in a profile, 5 % of it measured end to end (docs/performance.md).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping

import httpx

from routing.catalog import ProviderConfig

__all__ = [
    "CONNECTIONS_PER_POOL",
    "StatelessClient",
    "http_client_for",
    "http_clients_for",
    "parsed_url",
    "query_params",
]

# httpcore scans every connection of a pool for each request it places, so one pool of 256
# connections spends more CPU per call than the call's own work (measured: docs/performance.md).
# Pools of this size keep that scan short; calls are spread over them in turn.
CONNECTIONS_PER_POOL = 16


class _NoCookies(httpx.Cookies):
    """A cookie store that keeps nothing it is handed."""

    def extract_cookies(self, response: httpx.Response) -> None:
        return None

    def set(self, name: str, value: str, domain: str = "", path: str = "/") -> None:
        return None


class StatelessClient(httpx.Client):
    """An ``httpx.Client`` that sends no cookie and keeps none."""

    def __init__(self, **options: object) -> None:
        if "cookies" in options:
            raise TypeError("a StatelessClient keeps no cookies")
        super().__init__(**options)  # type: ignore[arg-type]
        self._no_cookies = _NoCookies()

    @property
    def cookies(self) -> httpx.Cookies:
        return self._no_cookies

    @cookies.setter
    def cookies(self, cookies: object) -> None:
        raise TypeError("a StatelessClient keeps no cookies")


def http_client_for(provider: ProviderConfig, connections: int) -> StatelessClient:
    """A client whose timeouts and pool bound every call to this provider (threads pools enforce
    no task time limits, so these are what keep a hung call from holding a slot)."""
    timeouts = provider.timeouts
    return StatelessClient(
        timeout=httpx.Timeout(
            connect=timeouts.connect, read=timeouts.read, write=timeouts.write, pool=timeouts.pool
        ),
        limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
        follow_redirects=False,
    )


def http_clients_for(provider: ProviderConfig) -> list[httpx.Client]:
    """Enough small pools for the provider's concurrency, together as many connections."""
    pools = max(1, math.ceil(provider.concurrency / CONNECTIONS_PER_POOL))
    size = math.ceil(provider.concurrency / pools)
    return [http_client_for(provider, size) for _ in range(pools)]


@functools.lru_cache(maxsize=1024)
def parsed_url(url: str) -> httpx.URL:
    """An adapter's URL, parsed once. httpx parses a ``str`` URL on every request with a regex
    pass over each component, about a tenth of a call's CPU outside the socket in a profile of
    the runner (docs/performance.md); an ``httpx.URL`` it is handed is taken as it is. A
    catalog's URLs are few, and the bound keeps a catalog that names many models in check."""
    return httpx.URL(url)


def query_params(params: Mapping[str, str]) -> dict[str, str] | None:
    """The call's query parameters, or None for none: httpx rebuilds (and parses again) the URL
    of a request given any mapping of parameters, an empty one too."""
    return dict(params) if params else None
