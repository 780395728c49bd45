"""Registering a webhook: the URL is checked first, then the subject is watched."""

from __future__ import annotations

import time

import redis

from broker.keys import Keys
from broker.settings import Settings
from broker.webhooks.targets import TargetPolicy

__all__ = ["WebhookRegistry"]


class WebhookRegistry:
    """Registers a URL to be called when a subject (``job:<id>``, ``batch:<id>``) ends.

    ``targets`` is the URL policy; by default it is read from the environment's settings
    (``CASCADE_WEBHOOK_ALLOW``), so that every process applies the operator's allowlist.
    """

    def __init__(
        self,
        client: redis.Redis,
        keys: Keys,
        ttl_s: int,
        *,
        targets: TargetPolicy | None = None,
    ) -> None:
        self.redis = client
        self.keys = keys
        self.ttl_s = ttl_s
        self.targets = targets if targets is not None else TargetPolicy.from_settings(Settings())

    def check_url(self, url: str) -> None:
        """Raise ValueError naming what is wrong unless cascade may call ``url``. Writes
        nothing: callers run it before anything of the submit is written."""
        self.targets.check_url(url)

    def watch(self, subject: str, url: str, tenant: str) -> None:
        self.check_url(url)
        hook = self.keys.webhook(subject)
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(hook, mapping={"url": url, "tenant": tenant})
        pipe.expire(hook, self.ttl_s)
        pipe.zadd(self.keys.webhooks_watched(), {subject: time.time()})
        # A dispatcher looks at the subject now: it may have ended before it was watched.
        pipe.publish(self.keys.webhooks_channel(), subject)
        pipe.execute()
