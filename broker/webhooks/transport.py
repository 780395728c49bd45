"""Sending one webhook request to a checked address: no DNS rebinding, no redirects, no proxies.

The URL was checked at submit, but a name can resolve elsewhere by the time it is called (DNS
rebinding: a public address at submit, 127.0.0.1 at delivery). So each send resolves the host,
checks every address it got (one refused address refuses the send), and connects to the first
checked address itself (the URL's host replaced by the address), sending the original name as
``Host`` and as the TLS server name, so that the certificate is verified for the name and no
second resolution can pick another address. A redirect is an answer, never followed: it could
point anywhere. Proxies from the environment are not used: they would connect on our behalf.
The answer's body is never read.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import httpx

from broker.webhooks.targets import RefusedTarget, TargetPolicy

__all__ = ["Resolver", "SendOutcome", "send_checked", "system_resolver", "webhook_http_client"]

# resolve(host, port) -> the addresses to connect to, in the order to try them.
Resolver = Callable[[str, int], Sequence[str]]


def system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def webhook_http_client(timeout_s: float, connections: int) -> httpx.Client:
    return httpx.Client(
        timeout=timeout_s,
        follow_redirects=False,
        trust_env=False,
        limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
    )


@dataclass(frozen=True, slots=True)
class SendOutcome:
    """``error`` is None on a 2xx answer; ``permanent`` errors are not retried."""

    error: str | None = None
    permanent: bool = False


def send_checked(
    http: httpx.Client,
    url: str,
    *,
    body: bytes,
    headers: Mapping[str, str],
    targets: TargetPolicy,
    resolver: Resolver = system_resolver,
) -> SendOutcome:
    """POST ``body`` to ``url`` if its host resolves only to allowed addresses."""
    try:
        target = targets.check_url(url)
        if target.address is not None:
            address = str(target.address)
        else:
            address = _checked_address(target.host, target.port, targets, resolver,
                                       any_address=target.allowed_by_name)
    except RefusedTarget as exc:
        return SendOutcome(f"refused: {exc}", permanent=True)
    except OSError as exc:
        return SendOutcome(f"cannot resolve {url!r}: {exc}")
    pinned = target.url.copy_with(host=address)
    extensions = {"sni_hostname": target.host} if target.url.scheme == "https" else {}
    try:
        # Streamed and never read: only the status matters, and a receiver's answer body,
        # however large, is not taken into memory.
        with http.stream(
            "POST",
            pinned,
            content=body,
            headers={**headers, "Host": target.host_header},
            extensions=extensions,
        ) as response:
            status = response.status_code
    except httpx.HTTPError as exc:
        return SendOutcome(f"{type(exc).__name__}: {exc}")
    if 200 <= status < 300:
        return SendOutcome()
    if 300 <= status < 400:
        return SendOutcome(f"HTTP {status}: redirects are not followed")
    return SendOutcome(f"HTTP {status}")


def _checked_address(
    host: str, port: int, targets: TargetPolicy, resolver: Resolver, *, any_address: bool
) -> str:
    addresses = list(resolver(host, port))
    if not addresses:
        raise OSError(f"{host!r} resolved to no address")
    if not any_address:
        for address in addresses:
            targets.check_address(host, address)
    return addresses[0].split("%", 1)[0]
