"""Webhooks: a signed POST to the caller's URL when a job or a batch ends, retried with backoff.

One concern per module: ``signing`` (the signature receivers verify), ``targets`` (which URLs
may be called), ``registry`` (registering a URL for a subject), ``transport`` (one send to a
checked address), ``queues`` (per-tenant due sets in Redis), ``fairness`` (sharing senders
among tenants), ``wakeups`` (what wakes a dispatcher), ``dispatcher`` (the loop), ``failed``
(given-up deliveries: kept small, listed, replayed) and ``policy`` (the knobs).
"""

from broker.webhooks.dispatcher import WebhookDispatcher
from broker.webhooks.failed import FailedDeliveries, FailedDelivery, NotReplayed, PayloadFor
from broker.webhooks.policy import DeliveryPolicy, backoff_s
from broker.webhooks.registry import WebhookRegistry
from broker.webhooks.signing import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    InvalidSignature,
    sign,
    signature_header,
    verify_signature,
)
from broker.webhooks.targets import RefusedTarget, TargetPolicy

__all__ = [
    "DELIVERY_HEADER",
    "EVENT_HEADER",
    "SIGNATURE_HEADER",
    "DeliveryPolicy",
    "FailedDeliveries",
    "FailedDelivery",
    "InvalidSignature",
    "NotReplayed",
    "PayloadFor",
    "RefusedTarget",
    "TargetPolicy",
    "WebhookDispatcher",
    "WebhookRegistry",
    "backoff_s",
    "sign",
    "signature_header",
    "verify_signature",
]
