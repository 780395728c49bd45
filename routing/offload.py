"""Whether a job waits for its provider's batch API (about half price), and how waiting jobs
are packed into provider batches. Pure: a function of the job, its first target, the catalog
and the time it is given; nothing here reads Redis or calls a provider.

The decision gives the time by which a line the provider has not answered goes back to the
job's synchronous route (``fall_back_at``): a safety margin before the job's deadline, and
never later than the provider's own completion window, after which the provider expires it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from broker.jobs import CompletionJob, TargetRef
from routing.catalog import Catalog

__all__ = [
    "BatchLine",
    "Grouping",
    "OffloadDecision",
    "ProviderBatchPlan",
    "decide_offload",
    "effective_deadline",
    "group_lines",
    "parse_window",
    "span",
]

# Bytes a line adds to a batch input besides its own: the newline of a JSONL file, or the comma
# between two entries of a JSON array. A limit is never met exactly, so one byte is enough.
_SEPARATOR_BYTES = 1


@dataclass(frozen=True, slots=True)
class OffloadDecision:
    """Whether to offload, why (for ``cascade route`` and the job's attempts), and when the
    lines of an offloaded job still unanswered continue on the synchronous route."""

    offload: bool
    reason: str
    fall_back_at: datetime | None = None


_WINDOW = re.compile(r"^([1-9][0-9]*)([smhd])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_window(text: str) -> timedelta:
    """A completion window as batches give it (``"24h"``; also ``s``, ``m`` and ``d``)."""
    found = _WINDOW.match(text.strip())
    if found is None:
        raise ValueError(
            f"completion window {text!r} is not a whole number and a unit s, m, h or d (24h)"
        )
    return timedelta(seconds=int(found.group(1)) * _UNIT_S[found.group(2)])


def span(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    hours, rest = divmod(abs(seconds), 3600)
    text = f"{hours}h{rest // 60:02d}m" if hours else f"{rest // 60}m{rest % 60:02d}s"
    return f"-{text}" if seconds < 0 else text


def effective_deadline(
    job: CompletionJob, completion_window: timedelta | None
) -> datetime | None:
    """The earlier of the job's deadline and the end of its batch's completion window."""
    ends = [job.envelope.deadline] if job.envelope.deadline is not None else []
    if completion_window is not None:
        ends.append(job.envelope.created_at + completion_window)
    return min(ends) if ends else None


def _refusal(job: CompletionJob, target: TargetRef, catalog: Catalog) -> str | None:
    """Why the job may not go to the target's batch API whatever its deadline, or None."""
    if job.needs.offload == "never":
        return "not offloaded: the job opted out (needs.offload: never)"
    if job.envelope.tenant in catalog.offload_opt_out_tenants:
        return f"not offloaded: tenant {job.envelope.tenant!r} opted out"
    if catalog.provider(target.provider).batch is None:
        return f"not offloaded: provider {target.provider!r} has no batch mode in the catalog"
    if catalog.model(target.model).batch_price is None:
        return f"not offloaded: model {target.model!r} has no batch price in the catalog"
    return None


def decide_offload(
    job: CompletionJob,
    target: TargetRef,
    catalog: Catalog,
    *,
    now: datetime,
    margin: timedelta,
    min_wait: timedelta,
    completion_window: timedelta | None = None,
) -> OffloadDecision:
    """Offload ``job`` to ``target``'s batch API (``target`` is the first of its route)?

    Yes when nothing opts it out, the target's provider and model have a batch mode, and the
    deadline (the job's, or ``completion_window`` after its creation for a batch job) leaves at
    least ``min_wait`` for the provider before the ``margin`` kept for the synchronous route.
    A job with neither deadline nor window has a caller waiting for it: never offloaded.
    """
    refusal = _refusal(job, target, catalog)
    if refusal is not None:
        return OffloadDecision(False, refusal)
    deadline = effective_deadline(job, completion_window)
    if deadline is None:
        return OffloadDecision(
            False, "not offloaded: no deadline or completion window, so a caller is waiting"
        )
    slack = deadline - now - margin
    if slack < min_wait:
        left = f"leaves {span(slack)}" if slack > timedelta(0) else "leaves nothing"
        return OffloadDecision(
            False,
            f"not offloaded: the deadline is {span(deadline - now)} away, which {left} "
            f"after the {span(margin)} margin, under the {span(min_wait)} a provider batch "
            "is given",
        )
    limits = catalog.provider(target.provider).batch
    assert limits is not None  # _refusal saw to it
    provider_end = now + timedelta(seconds=limits.completion_window_s)
    fall_back_at = min(deadline - margin, provider_end)
    price = catalog.model(target.model).price
    batch_price = catalog.model(target.model).batch_price
    assert batch_price is not None
    fall_back = fall_back_at.isoformat(timespec="seconds")
    prices = (
        f"{batch_price.input:g}/{batch_price.output:g} USD per M tokens "
        f"against {price.input:g}/{price.output:g}"
    )
    return OffloadDecision(
        True,
        f"offloaded to {target.provider}'s batch API for {target.model}: the deadline is "
        f"{span(deadline - now)} away; unanswered by {fall_back} it goes synchronous; "
        f"batch price {prices}",
        fall_back_at,
    )


# --- grouping --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BatchLine:
    """One offloaded job as a line of a provider batch: ``size_bytes`` is the line as the
    adapter builds it (adapters/batch_api/), ``key`` names the API key it is sent with."""

    job_id: str
    provider: str
    model: str  # the catalog's model name
    key: str
    size_bytes: int


@dataclass(frozen=True, slots=True)
class ProviderBatchPlan:
    """The lines of one provider batch, in the order they were given."""

    provider: str
    model: str
    key: str
    job_ids: tuple[str, ...]
    size_bytes: int


@dataclass(frozen=True, slots=True)
class Grouping:
    """Provider batches within the documented limits, and the lines no batch can hold."""

    batches: list[ProviderBatchPlan] = field(default_factory=list)
    # a line larger than its provider's byte limit on its own: it stays synchronous
    too_large: list[str] = field(default_factory=list)


@dataclass(slots=True)
class _Open:
    job_ids: list[str]
    size_bytes: int


def group_lines(lines: Iterable[BatchLine], catalog: Catalog) -> Grouping:
    """Pack lines per (provider, model, key), in order, a new batch whenever the next line
    would pass the provider's request or byte limit (every line counts one separator byte)."""
    grouping = Grouping()
    open_batches: dict[tuple[str, str, str], _Open] = {}
    for line in lines:
        limits = catalog.provider(line.provider).batch
        if limits is None:
            raise ValueError(f"provider {line.provider!r} has no batch mode in the catalog")
        size = line.size_bytes + _SEPARATOR_BYTES
        if size > limits.max_bytes:
            grouping.too_large.append(line.job_id)
            continue
        group = (line.provider, line.model, line.key)
        current = open_batches.get(group)
        full = current is not None and (
            current.size_bytes + size > limits.max_bytes
            or (limits.max_requests is not None and len(current.job_ids) >= limits.max_requests)
        )
        if current is None or full:
            if current is not None:
                grouping.batches.append(_closed(group, current))
            current = open_batches[group] = _Open([], 0)
        current.job_ids.append(line.job_id)
        current.size_bytes += size
    grouping.batches.extend(_closed(group, batch) for group, batch in open_batches.items())
    return grouping


def _closed(group: tuple[str, str, str], batch: _Open) -> ProviderBatchPlan:
    provider, model, key = group
    return ProviderBatchPlan(provider, model, key, tuple(batch.job_ids), batch.size_bytes)
