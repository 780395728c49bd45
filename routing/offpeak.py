"""Whether a job waits for a cheaper price window of its first target before it runs. Pure: a
function of the job, its route, the catalog, the rules and the time it is given.

A job may wait when it is deferrable in the sense the offload decision uses (its deadline, or
its batch's completion window, says when it must be done; routing/offload.py) and:

- it is not ``interactive``, not streamed (someone reads it as it comes), and neither the job
  (``needs.offpeak: never``) nor its tenant (``offpeak_opt_out_tenants``) opted out;
- its first target's model has price windows (routing/price_windows.py);
- its deadline is at least ``min_deadline`` away: further than any synchronous caller waits
  (the API's longest wait bounds the deadline of every job a caller waits for);
- a price at least ``min_saving`` below today's starts no later than ``margin`` before the
  deadline (and within ``horizon``, which keeps a waiting job well inside its record's TTL).

It then waits for the cheapest such price, the earliest start of it when several are equal.
The estimate compared is the planner's (the prompt's tokens and the output allowance at each
price), so the saving is that share of the job's estimated cost.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from broker.jobs import CompletionJob, Priority, TargetRef
from routing.catalog import Catalog, ModelConfig
from routing.estimate import estimate_cost_usd, estimate_prompt_tokens, output_allowance
from routing.offload import effective_deadline, span
from routing.price_windows import Segment, segments, window_rates

__all__ = ["WaitDecision", "WaitRules", "decide_wait"]


@dataclass(frozen=True, slots=True)
class WaitRules:
    """The settings the decision takes (``CASCADE_OFFPEAK_*``)."""

    margin: timedelta
    min_deadline: timedelta
    min_saving: float
    horizon: timedelta = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class WaitDecision:
    """Run now, or wait ``until`` (for ``cascade route``, the job's status and the scheduler);
    ``saving`` is the share of the estimated cost the wait saves."""

    wait: bool
    reason: str
    until: datetime | None = None
    saving: float = 0.0


def _refusal(job: CompletionJob, catalog: Catalog, model: ModelConfig) -> str | None:
    """Why the job runs now whatever the prices, or None."""
    if job.envelope.priority is Priority.INTERACTIVE:
        return "runs now: interactive jobs never wait for a price window"
    if job.envelope.stream:
        return "runs now: a streamed job is read as it comes"
    if job.needs.offpeak == "never":
        return "runs now: the job opted out (needs.offpeak: never)"
    if job.envelope.tenant in catalog.offpeak_opt_out_tenants:
        return f"runs now: tenant {job.envelope.tenant!r} opted out of waiting for prices"
    if not model.price_windows:
        return f"runs now: {model.name} has no time-of-day prices in the catalog"
    return None


def _when(moment: datetime, now: datetime) -> str:
    """``16:30 UTC``, with the day when it is not today's (UTC), and seconds when it has them."""
    moment = moment.astimezone(UTC)
    clock = "%H:%M:%S" if moment.second else "%H:%M"
    same_day = moment.date() == now.astimezone(UTC).date()
    return f"{moment.strftime(clock if same_day else f'%a %d %b {clock}')} UTC"


def _what(model: ModelConfig, segment: Segment, previous: Segment) -> str:
    """What the waited-for segment is: a window by its name, or the catalog price again."""
    if segment.window is not None:
        window = model.price_windows[segment.window]
        rates = window_rates(model.price, window)
        cheaper = rates[0] <= model.price.input and rates[1] <= model.price.output
        return f"the {window.name or ('off-peak' if cheaper else 'peak')} window"
    if previous.window is not None:
        window = model.price_windows[previous.window]
        return f"the catalog price after the {window.name or 'peak'} window"
    return "the catalog price"


def decide_wait(
    job: CompletionJob,
    route: Sequence[TargetRef],
    catalog: Catalog,
    *,
    now: datetime,
    rules: WaitRules,
    completion_window: timedelta | None = None,
) -> WaitDecision:
    """Run the job now, or hold it until a cheaper price of ``route[0]`` is in force."""
    model = catalog.model(route[0].model)
    refusal = _refusal(job, catalog, model)
    if refusal is not None:
        return WaitDecision(False, refusal)
    deadline = effective_deadline(job, completion_window)
    if deadline is None:
        return WaitDecision(False, "runs now: no deadline or completion window, so a caller waits")
    if deadline <= now:
        return WaitDecision(False, "runs now: the deadline has passed")
    if deadline - now < rules.min_deadline:
        return WaitDecision(
            False,
            f"runs now: the deadline is {span(deadline - now)} away, under the "
            f"{span(rules.min_deadline)} a job must leave to wait for a price window",
        )
    prompt = estimate_prompt_tokens(job.request, model)
    output = output_allowance(job.request, model) * job.request.n

    def cost(segment: Segment) -> float:
        if segment.window is None:
            return estimate_cost_usd(model, prompt, output)
        rates = window_rates(model.price, model.price_windows[segment.window])
        return (prompt * rates[0] + output * rates[1]) / 1_000_000

    ahead = segments(model.price_windows, now, now + rules.horizon)
    latest = min(deadline - rules.margin, now + rules.horizon)
    today = cost(ahead[0])
    worth = [item for item in ahead[1:] if cost(item) <= today * (1 - rules.min_saving)]
    if not worth:
        current = ahead[0]
        if current.window is None:
            return WaitDecision(
                False, f"runs now: no cheaper price comes within {span(rules.horizon)}"
            )
        return WaitDecision(
            False,
            f"runs now: {_what(model, current, current)} is in force until "
            f"{_when(current.end, now)}, and nothing cheaper comes within {span(rules.horizon)}",
        )
    reachable = [item for item in worth if item.start <= latest]
    if not reachable:
        first = worth[0]
        return WaitDecision(
            False,
            f"runs now: {_what(model, first, ahead[ahead.index(first) - 1])} at "
            f"{_when(first.start, now)} starts after {_when(latest, now)}, the latest start "
            f"the deadline allows with its {span(rules.margin)} margin",
        )
    best = min(reachable, key=lambda item: (cost(item), item.start))
    saving = 1 - cost(best) / today if today > 0 else 0.0
    return WaitDecision(
        True,
        f"waits for {_what(model, best, ahead[ahead.index(best) - 1])} at "
        f"{_when(best.start, now)} (in {span(best.start - now)}), saves ~{saving:.0%} "
        f"(est. ${cost(best):.6f} against ${today:.6f} now); the deadline allows a start "
        f"until {_when(latest, now)}",
        best.start,
        saving,
    )
