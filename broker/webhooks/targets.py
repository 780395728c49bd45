"""Which webhook URLs cascade will call: public http(s) targets only, unless an operator opens more.

A webhook URL is chosen by a tenant, and the broker calls it from inside the operator's network,
so an unchecked URL lets a tenant reach what only the broker should reach: Redis on loopback,
the cloud's metadata service at 169.254.169.254, private services. Refused by default, each with
the reason named: schemes other than http and https, credentials in the URL, loopback, private,
link-local, shared (CGNAT), multicast, reserved and unspecified addresses (IPv4 and IPv6,
IPv4-mapped and NAT64/6to4/Teredo forms included), IPv4 written in decimal, octal or hex
(``http://2130706433/``), and names that are local by definition (``localhost``, ``*.local``,
``*.internal``, single-label names, cloud metadata names).

The operator's allowlist (``CASCADE_WEBHOOK_ALLOW``) holds CIDRs, addresses and exact host names:
an address inside a listed network, or a listed name (wherever it resolves), is allowed. Nothing
opens credentials in URLs or other schemes.

Pure: no resolution here. ``check_url`` runs at submit; the delivery side resolves the name and
runs ``check_address`` on every address it got (see ``broker.webhooks.transport``).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass

import httpx

from broker.settings import Settings

__all__ = ["RefusedTarget", "Target", "TargetPolicy"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Names that reach a cloud provider's instance metadata, or the cluster's own API, from inside.
_METADATA_NAMES = frozenset(
    {
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "metadata.azure.com",
        "metadata.tencentyun.com",
        "metadata.packet.net",
        "instance-data",
        "instance-data.ec2.internal",
        "kubernetes.default",
        "kubernetes.default.svc",
    }
)
# Suffixes that never name a public host (RFC 6761, RFC 6762, RFC 8375, ICANN's .internal).
_LOCAL_SUFFIXES = (".localhost", ".local", ".internal", ".localdomain", ".home.arpa", ".lan")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
# A label an IPv4 parser (inet_aton) reads as a number: decimal, 0-prefixed octal or 0x hex.
_NUMERIC_LABEL = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")
_HOST_NAME = re.compile(r"^(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$")


class RefusedTarget(ValueError):
    """A webhook URL or address cascade will not call; the message says why."""


@dataclass(frozen=True, slots=True)
class Target:
    """A checked URL: the name to resolve (or the literal address), and how to rebuild it."""

    url: httpx.URL
    host: str  # lower case, no trailing dot, no brackets; ASCII (IDNA) form
    port: int
    address: IPAddress | None  # set when the URL names an address rather than a host
    allowed_by_name: bool  # the operator listed this host name: any address it resolves to

    @property
    def host_header(self) -> str:
        default = 443 if self.url.scheme == "https" else 80
        shown = f"[{self.host}]" if ":" in self.host else self.host
        return shown if self.port == default else f"{shown}:{self.port}"


@dataclass(frozen=True, slots=True)
class TargetPolicy:
    """The URL policy, with the operator's allowlist."""

    allow_networks: tuple[IPNetwork, ...] = ()
    allow_hosts: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, entries: Iterable[str]) -> TargetPolicy:
        """From allowlist entries: CIDRs, addresses or host names. Raises ValueError naming a
        bad entry."""
        networks: list[IPNetwork] = []
        hosts: set[str] = set()
        for raw in entries:
            entry = raw.strip().lower().rstrip(".")
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
                continue
            except ValueError:
                pass
            if not _HOST_NAME.match(entry):
                raise ValueError(
                    f"CASCADE_WEBHOOK_ALLOW: {raw!r} is neither a CIDR, an address nor a host name"
                )
            hosts.add(entry)
        return cls(tuple(networks), frozenset(hosts))

    @classmethod
    def from_settings(cls, settings: Settings) -> TargetPolicy:
        return cls.parse(settings.webhook_allow)

    def check_url(self, url: str) -> Target:
        """The checked target of ``url``; RefusedTarget naming what is wrong otherwise."""
        parsed = _parse(url)
        host = _ascii_host(parsed)
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        address = _literal_address(host)
        if address is not None:
            self.check_address(host, address)
            return Target(parsed, host, port, address, allowed_by_name=False)
        if self._host_allowed(host):
            return Target(parsed, host, port, None, allowed_by_name=True)
        problem = _name_problem(host)
        if problem:
            raise RefusedTarget(f"webhook URL host {host!r} {problem}")
        return Target(parsed, host, port, None, allowed_by_name=False)

    def check_address(self, host: str, address: str | IPAddress) -> IPAddress:
        """The address, if cascade may connect to it for ``host``; RefusedTarget otherwise."""
        try:
            found = ipaddress.ip_address(address) if isinstance(address, str) else address
        except ValueError as exc:
            raise RefusedTarget(f"webhook host {host!r}: {address!r} is not an address") from exc
        if any(found in network for network in self.allow_networks):
            return found
        problem = _address_problem(found)
        if problem:
            shown = host if host == str(found) else f"{host!r} ({found})"
            raise RefusedTarget(f"webhook target {shown} is {problem}")
        return found

    def _host_allowed(self, host: str) -> bool:
        return host in self.allow_hosts or any(
            entry.startswith("*.") and host.endswith(entry[1:]) for entry in self.allow_hosts
        )


def _parse(url: str) -> httpx.URL:
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise RefusedTarget(f"webhook URL is not a valid URL: {exc}") from exc
    if parsed.scheme not in ("http", "https"):
        raise RefusedTarget(f"webhook URL must be http or https, not {parsed.scheme or 'none'!r}")
    if parsed.userinfo:
        raise RefusedTarget("webhook URL must not carry credentials (user:password@)")
    if not parsed.host:
        raise RefusedTarget("webhook URL has no host")
    return parsed


def _ascii_host(parsed: httpx.URL) -> str:
    try:
        host = parsed.raw_host.decode("ascii")
    except UnicodeDecodeError as exc:
        raise RefusedTarget("webhook URL host is not a valid host name") from exc
    return host.lower().strip("[]").rstrip(".")


def _literal_address(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.split("%", 1)[0] if "%" in host else host)
    except ValueError:
        pass
    labels = host.split(".")
    if labels and _NUMERIC_LABEL.match(labels[-1]):
        # inet_aton reads 2130706433, 0x7f.1, 0177.0.0.1 and 127.1 as 127.0.0.1.
        raise RefusedTarget(
            f"webhook URL host {host!r} is an IPv4 address in a non-standard form"
            " (decimal, octal, hex or shortened); write the dotted-quad form"
        )
    return None


def _name_problem(host: str) -> str | None:
    if host in _METADATA_NAMES or host.startswith("metadata."):
        return "is a cloud metadata service name"
    if host == "localhost" or host.endswith(_LOCAL_SUFFIXES):
        return "is a local name"
    if "." not in host:
        return "is a single-label name (resolved inside the local network)"
    if not _HOST_NAME.match(host):
        return "is not a valid host name"
    return None


def _embedded_ipv4(address: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address, str] | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped, "IPv4-mapped"
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF), "NAT64"
    if address.sixtofour is not None:
        return address.sixtofour, "6to4"
    if address.teredo is not None:
        return address.teredo[1], "Teredo"
    return None


_KINDS: tuple[tuple[str, str], ...] = (
    ("is_unspecified", "the unspecified address"),
    ("is_loopback", "a loopback address"),
    ("is_link_local", "a link-local address (where cloud metadata services answer)"),
    ("is_multicast", "a multicast address"),
    ("is_private", "a private address"),
    ("is_reserved", "a reserved address"),
)


def _address_problem(address: IPAddress) -> str | None:
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            inner = _address_problem(embedded[0])
            return f"an {embedded[1]} form of {embedded[0]}, {inner}" if inner else None
    for attribute, kind in _KINDS:
        if getattr(address, attribute):
            return kind
    if not address.is_global:
        return "not a public address"
    return None
