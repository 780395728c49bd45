"""OpenAI's batch webhooks, pure: Standard Webhooks signatures (sign and verify) and the batch
events' bodies.

OpenAI delivers ``batch.completed``, ``batch.failed``, ``batch.expired`` and
``batch.cancelled`` as a POST whose body is ``{"id": <event id>, "object": "event",
"created_at": <unix s>, "type": <type>, "data": {"id": <batch id>}}`` (openai-python's
``types/webhooks/batch_*_webhook_event.py``), with three headers: ``webhook-id``,
``webhook-timestamp`` (unix seconds) and ``webhook-signature``: space-separated ``v1,<base64>``
values, each the HMAC-SHA256 of ``<webhook-id>.<webhook-timestamp>.<body>`` keyed by the
secret (the bytes after ``whsec_``, base64-decoded; a secret without the prefix is used as its
own bytes), as openai-python's ``lib/_webhooks.py`` checks them, with five minutes' tolerance
either side (``verify_signature(tolerance=300)``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = [
    "BATCH_EVENTS",
    "TOLERANCE_S",
    "BatchEvent",
    "WebhookRefused",
    "parse_batch_event",
    "sign",
    "signed_headers",
    "verify",
]

BATCH_EVENTS = frozenset({"batch.completed", "batch.failed", "batch.expired", "batch.cancelled"})
TOLERANCE_S = 300
_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")


class WebhookRefused(ValueError):
    """The delivery is not the provider's, or not recent: its message says which check failed."""


def _key(secret: str) -> bytes:
    if not secret.startswith("whsec_"):
        return secret.encode()
    try:
        return base64.b64decode(secret[len("whsec_"):], validate=True)
    except binascii.Error as exc:
        raise ValueError("the webhook secret is whsec_ followed by something not base64") from exc


def sign(secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    """The ``v1,<base64>`` signature of one delivery."""
    message = f"{webhook_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), message, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signed_headers(secret: str, webhook_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three headers a sender puts on a delivery (the emulator, as OpenAI does)."""
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, webhook_id, timestamp, body),
        "content-type": "application/json",
    }


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: float,
    tolerance_s: float = TOLERANCE_S,
) -> str:
    """The delivery's ``webhook-id`` if ``headers`` sign ``body`` with ``secret`` within the
    tolerance of ``now``; raises WebhookRefused naming what failed. ``headers`` are looked up
    by lower-case name (Starlette's and httpx's headers are case-insensitive already)."""
    found = {name: headers.get(name) for name in _HEADERS}
    for name, value in found.items():
        if not value:
            raise WebhookRefused(f"{name}: header missing")
    webhook_id, stamp, given = (str(found[name]) for name in _HEADERS)
    try:
        timestamp = int(stamp)
    except ValueError:
        raise WebhookRefused("webhook-timestamp: not whole unix seconds") from None
    if now - timestamp > tolerance_s:
        raise WebhookRefused(f"webhook-timestamp: older than {tolerance_s:g} s")
    if timestamp - now > tolerance_s:
        raise WebhookRefused(f"webhook-timestamp: more than {tolerance_s:g} s ahead")
    expected = sign(secret, webhook_id, timestamp, body)
    # Several signatures (a secret being rotated): any one of them may match.
    if not any(hmac.compare_digest(expected, part) for part in given.split()):
        raise WebhookRefused("webhook-signature: no signature matches the secret")
    return webhook_id


@dataclass(frozen=True, slots=True)
class BatchEvent:
    event_id: str
    type: str
    batch_id: str


def parse_batch_event(body: bytes) -> BatchEvent | None:
    """The batch event a verified body carries; None for another event type (acknowledged and
    ignored: a project's endpoint may be subscribed to more than batches). Raises
    WebhookRefused for a body that is not an event."""
    try:
        event = json.loads(body)
    except ValueError:
        raise WebhookRefused("body: not JSON") from None
    if not isinstance(event, dict) or not isinstance(event.get("type"), str):
        raise WebhookRefused("type: missing; the body is not a webhook event")
    if event["type"] not in BATCH_EVENTS:
        return None
    data = event.get("data")
    batch_id = data.get("id") if isinstance(data, dict) else None
    if not isinstance(batch_id, str) or not batch_id:
        raise WebhookRefused("data.id: missing; a batch event names its batch")
    return BatchEvent(str(event.get("id", "")), event["type"], batch_id)
