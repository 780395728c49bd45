"""What a job's status says about offloading (``GET /v1/jobs/{id}``, ``cascade status``): the
decision and its reason, and where the job is: parked, in a provider batch (its id and state),
answered by one, or sent back to its synchronous route and why.

``offload_view`` is pure, over what Redis holds: the record's ``offload``, ``offload_fallback``
and ``offload_batch`` fields, the offload record that claims the job (while it is in a provider
batch), and the final result's last attempt (``worker = offload:<provider>:<batch id>`` when a
provider batch answered it). ``read_offload`` reads those in two round trips at most.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import redis

from broker.jobs import CompletionResult, FailedResult
from broker.keys import Keys

__all__ = ["offload_view", "read_offload"]

_JOB_FIELDS = ("offload", "offload_fallback", "offload_batch")
_RECORD_FIELDS = ("provider", "batch_id", "provider_state", "webhook", "submitted_at")


def _answered_by(result: CompletionResult | FailedResult | None) -> tuple[str, str] | None:
    if not isinstance(result, CompletionResult) or not result.attempts:
        return None
    kind, _, rest = (result.attempts[-1].worker or "").partition(":")
    provider, _, batch_id = rest.partition(":")
    return (provider, batch_id) if kind == "offload" and batch_id else None


def offload_view(
    fields: Mapping[str, str],
    record: Mapping[str, str] | None,
    result: CompletionResult | FailedResult | None,
) -> dict[str, Any] | None:
    """The job's ``offload`` object, or None when no offload decision was weighed for it."""
    decision = fields.get("offload")
    if decision is None:
        return None
    view: dict[str, Any] = {"offloaded": decision.startswith("offloaded"), "reason": decision}
    answered = _answered_by(result)
    if answered is not None:
        view.update(state="answered", provider=answered[0], provider_batch_id=answered[1])
    elif "offload_fallback" in fields:
        view.update(state="fell_back", fallback_reason=fields["offload_fallback"],
                    provider_batch_id=fields.get("offload_batch"))
    elif not view["offloaded"]:
        view["state"] = "not_offloaded"
    elif record is not None:
        batch_id = record.get("batch_id")
        view.update(state="in_provider_batch" if batch_id else "submitting",
                    provider=record.get("provider"), provider_batch_id=batch_id,
                    provider_state=record.get("provider_state"),
                    submitted_at=record.get("submitted_at"))
        if "webhook" in record:
            view["webhook"] = record["webhook"]
    elif result is not None:
        view["state"] = "ended"  # cancelled while parked
    else:
        view["state"] = "parked"
    return view


def read_offload(
    client: redis.Redis,
    keys: Keys,
    job_id: str,
    result: CompletionResult | FailedResult | None,
) -> dict[str, Any] | None:
    pipe = client.pipeline(transaction=False)
    pipe.hmget(keys.job(job_id), list(_JOB_FIELDS))
    pipe.hget(keys.offload_claims(), job_id)
    values, claim = pipe.execute()
    fields = {name: _text(v) for name, v in zip(_JOB_FIELDS, values, strict=True) if v is not None}
    if "offload" not in fields:
        return None
    record: dict[str, str] | None = None
    if claim is not None and result is None:
        raw = client.hmget(keys.offload_record(_text(claim)), list(_RECORD_FIELDS))
        record = {n: _text(v) for n, v in zip(_RECORD_FIELDS, raw, strict=True) if v is not None}
    return offload_view(fields, record or None, result)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
