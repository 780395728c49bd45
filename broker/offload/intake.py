"""A provider's batch webhook taken in: verified, then the provider batch's record made due now
and the pollers woken, in one script. Nothing is folded here: the poller reads the batch as it
would have on its next poll, so a webhook changes when a batch is read, never what is done.

Checks come first and write nothing: the provider must take webhooks (a batch mode with
``webhook_secret_env`` set and that variable holding a secret), the signature must match and be
recent (``adapters/batch_api/webhooks.py``), the body must be an event. Then the script marks
the ``webhook-id`` seen (a replay, or the provider's retry of a delivery already taken in, is
acknowledged and does nothing) and nudges the record holding the batch, if any.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, cast

import redis.asyncio as aioredis

from adapters.batch_api.webhooks import TOLERANCE_S, WebhookRefused, parse_batch_event, verify
from broker.keys import Keys
from routing.catalog import Catalog

__all__ = ["Intake", "IntakeRefused", "take_in", "webhook_secret"]

# A webhook id and a batch id become parts of key names: ids as providers make them
# (msg_..., wh_..., batch_...), bounded.
_ID = re.compile(r"^[A-Za-z0-9_.=+/-]{1,200}$")
# An early event waits this long for its record: far longer than a create call takes.
_EARLY_TTL_S = 3600
# Ids are kept past the tolerance on both sides, so no delivery the check lets through can be
# taken in twice.
_SEEN_TTL_S = 2 * TOLERANCE_S + 60

# KEYS: seen key, the provider's batch index, records set, due set, records' prefix, early
# key. ARGV: ttl, batch id, now, wake channel, event type, early ttl.
# A batch no record holds may be one whose poller has not written its id yet (a batch that
# failed at once): the early key makes that record due when it is written (state.submitted).
_NUDGE = """
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then return 'duplicate' end
local record = redis.call('HGET', KEYS[2], ARGV[2])
if not record or redis.call('SISMEMBER', KEYS[3], record) == 0 then
  redis.call('SET', KEYS[6], ARGV[5], 'EX', ARGV[6])
  return 'unknown_batch'
end
redis.call('ZADD', KEYS[4], ARGV[3], record)
redis.call('HSET', KEYS[5] .. record, 'webhook', ARGV[5])
redis.call('PUBLISH', ARGV[4], record)
return 'nudged'
"""


class IntakeRefused(ValueError):
    """The delivery is refused (400 or 404): ``status`` and a message naming the check."""

    def __init__(self, status: int, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.param = param


Outcome = Literal["nudged", "unknown_batch", "duplicate", "ignored"]


@dataclass(frozen=True, slots=True)
class Intake:
    outcome: Outcome
    batch_id: str | None = None
    event_type: str | None = None


def webhook_secret(catalog: Catalog, provider: str, environ: Mapping[str, str]) -> str:
    """The secret ``provider`` signs its batch webhooks with; IntakeRefused (404) when it
    takes none: not in the catalog, no batch mode, not OpenAI's wire, or no secret set."""
    config = catalog.providers.get(provider)
    if config is None:
        raise IntakeRefused(404, f"provider {provider!r} is not in the catalog")
    env = config.batch.webhook_secret_env if config.batch is not None else None
    if config.wire_format != "openai" or env is None:
        raise IntakeRefused(
            404,
            f"provider {provider!r} sends no batch webhooks cascade takes in (OpenAI's wire "
            "format, with providers.<name>.batch.webhook_secret_env set)",
        )
    secret = environ.get(env, "")
    if not secret:
        raise IntakeRefused(404, f"provider {provider!r}: the variable {env} holds no secret")
    return secret


async def take_in(
    aredis: aioredis.Redis,
    keys: Keys,
    provider: str,
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: float,
) -> Intake:
    try:
        webhook_id = verify(secret, headers, body, now=now)
        event = parse_batch_event(body)
    except WebhookRefused as exc:
        raise IntakeRefused(400, str(exc), str(exc).split(":", 1)[0]) from exc
    if not _ID.match(webhook_id):
        raise IntakeRefused(400, "webhook-id: not a webhook id", "webhook-id")
    if event is None:
        return Intake("ignored")
    if not _ID.match(event.batch_id):
        raise IntakeRefused(400, "data.id: not a batch id", "data.id")
    script = aredis.register_script(_NUDGE)
    outcome = await script(
        keys=[
            keys.provider_webhook_seen(provider, webhook_id),
            keys.offload_batches(provider),
            keys.offload_records(),
            keys.offload_due(),
            keys.offload_record(""),  # the records' prefix: the script adds the record id
            keys.offload_early_webhook(provider, event.batch_id),
        ],
        args=[_SEEN_TTL_S, event.batch_id, now, keys.offload_wake_channel(), event.type,
              _EARLY_TTL_S],
    )
    text = outcome.decode() if isinstance(outcome, bytes) else str(outcome)
    return Intake(cast(Outcome, text), event.batch_id, event.type)
