"""What a streamed chat completion's job does when its caller disconnects: it is cancelled
(``broker/job_cancel.py``), unless the caller asked it to go on with
``X-Cascade-On-Disconnect: continue`` or ``metadata.on_disconnect: "continue"``; then it runs to
its end and is stored as usual, readable at ``/v1/jobs/{id}`` and ``/v1/jobs/{id}/stream``.

Only the caller that submitted the job can cancel it this way: a reader of
``/v1/jobs/{id}/stream`` is one reader of an ordinary job, and its leaving changes nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from datetime import UTC, datetime
from typing import Any

import anyio
import structlog

from broker.http_api.openai_compat import CompatError
from broker.http_api.state import ApiState
from broker.job_cancel import DISCONNECT_SCRIPT, disconnect_call

__all__ = ["ON_DISCONNECT_HEADER", "cancel_on_disconnect", "cancels_on_disconnect"]

log = structlog.get_logger("cascade.api")

ON_DISCONNECT_HEADER = "x-cascade-on-disconnect"
_CHOICES = ("cancel", "continue")
_FIELD = "on_disconnect"


def cancels_on_disconnect(header: str | None, fields: dict[str, Any]) -> bool:
    """Whether the job is cancelled when its caller disconnects: the header, else
    ``metadata.on_disconnect`` (cascade's, so taken out of the metadata the provider sees);
    ``cancel`` unless one says ``continue``. A CompatError naming the field for another value."""
    metadata = fields.get("metadata")
    from_body = None
    if isinstance(metadata, dict) and _FIELD in metadata:
        from_body = metadata[_FIELD]
        rest = {key: value for key, value in metadata.items() if key != _FIELD}
        if rest:
            fields["metadata"] = rest
        else:
            del fields["metadata"]
    chosen, param = (header, ON_DISCONNECT_HEADER) if header else (from_body, f"metadata.{_FIELD}")
    if chosen is None:
        return True
    choice = str(chosen).strip().lower()
    if choice not in _CHOICES:
        raise CompatError(param, f"{param}: {chosen!r} is not one of {', '.join(_CHOICES)}")
    return choice == "cancel"


async def cancel_on_disconnect(
    events: AsyncIterator[str], state: ApiState, job_id: str, tenant: str
) -> AsyncGenerator[str, None]:
    """``events``; if the caller goes away before they end (the response's task is cancelled,
    or the generator closed unfinished), the job is cancelled."""
    try:
        async for event in events:
            yield event
    except (asyncio.CancelledError, GeneratorExit):
        # Shielded: the task is being cancelled, and an unshielded await would be too.
        with anyio.CancelScope(shield=True):
            await _cancel(state, job_id, tenant)
        raise


async def _cancel(state: ApiState, job_id: str, tenant: str) -> None:
    keys, args = disconnect_call(
        state.keys, state.client.store.ttl_s, job_id, tenant, datetime.now(UTC)
    )
    try:
        outcome = await state.aredis.eval(DISCONNECT_SCRIPT, len(keys), *keys, *args)
    except Exception:  # the caller is gone: nobody to answer, so it is logged
        log.exception("could not cancel the job of a disconnected stream", job_id=job_id)
        return
    text = outcome.decode() if isinstance(outcome, bytes) else str(outcome)
    log.info("stream caller disconnected", job_id=job_id, outcome=text)
