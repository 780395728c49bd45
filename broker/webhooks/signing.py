"""Webhook signatures: what a receiver verifies, so the format and headers never change.

``X-Cascade-Signature: t=<unix seconds>,v1=<hex>`` where ``v1`` is HMAC-SHA256, keyed by the
tenant's webhook secret, over ``<t>.<raw body>``. The timestamp is signed with the body so a
captured request cannot be replayed later (``verify_signature`` refuses one older than its
tolerance). Each attempt is signed afresh; ``X-Cascade-Delivery`` stays the same across the
attempts of one delivery (and its replays), for the receiver to drop duplicates.
"""

from __future__ import annotations

import hashlib
import hmac
import time

__all__ = [
    "DELIVERY_HEADER",
    "EVENT_HEADER",
    "SIGNATURE_HEADER",
    "InvalidSignature",
    "sign",
    "signature_header",
    "verify_signature",
]

SIGNATURE_HEADER = "X-Cascade-Signature"
DELIVERY_HEADER = "X-Cascade-Delivery"
EVENT_HEADER = "X-Cascade-Event"


class InvalidSignature(ValueError):
    """A webhook's signature header is missing, malformed, stale or does not match."""


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The hex HMAC-SHA256 of ``<timestamp>.<body>`` keyed by ``secret``."""
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_header(secret: str, body: bytes, timestamp: int | None = None) -> str:
    stamp = int(time.time()) if timestamp is None else timestamp
    return f"t={stamp},v1={sign(secret, body, stamp)}"


def verify_signature(
    secret: str,
    header: str | None,
    body: bytes,
    *,
    tolerance_s: float = 300,
    now: float | None = None,
) -> None:
    """Raise InvalidSignature unless ``header`` signs ``body`` with ``secret``, recently."""
    if not header:
        raise InvalidSignature(f"no {SIGNATURE_HEADER} header")
    parts = dict(item.split("=", 1) for item in header.split(",") if "=" in item)
    try:
        stamp = int(parts["t"])
        given = parts["v1"]
    except (KeyError, ValueError) as exc:
        raise InvalidSignature("malformed signature header") from exc
    current = time.time() if now is None else now
    if abs(current - stamp) > tolerance_s:
        raise InvalidSignature("signature timestamp outside the tolerance")
    if not hmac.compare_digest(sign(secret, body, stamp), given):
        raise InvalidSignature("signature does not match")
