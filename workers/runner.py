"""Running one delivery of a job: guard against duplicates, call the target, carry out the decision.

This is the execute task without Celery: the task hands it a job id, the hop and a function that
publishes a job's next message, so the whole flow is testable against a real Redis and the
emulator without a worker process.

One delivery of route[hop]:
  stand down if the job ended, moved on, or is being run by another delivery
  record the call of an earlier delivery that died mid-call, if there is one
  admit the call (circuits, a key, the rate limit), reserve its spend ceiling, mark it started
  call the provider, settle circuits and spend
  succeed; or retry the same hop later; or reroute to a later hop; or fail the job

This module runs a delivery up to its call; what follows a call is apart: writing the job's end,
success or failure, in ``workers/endings.py``, and what a failed call, a skip or an answer that
failed its check leads to in ``workers/failures.py``.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import structlog

from adapters.base import ParsedResponse
from broker.jobs import Attempt, TargetRef
from broker.script_batch import ScriptCall, run_scripts
from broker.store import StoredJob
from routing.catalog import ModelConfig
from routing.escalation import check_answer, next_tier_hop
from routing.estimate import actual_cost_usd, estimate_prompt_tokens, output_allowance, priced_at
from routing.spend import SpendGrant, estimate_call
from workers.admission import Admitted, Skip, Wait
from workers.calls import call_target
from workers.cancels import CallCancelled, end_cancelled
from workers.claim_release import release_claim
from workers.context import WorkerContext
from workers.deadlines import out_of_time
from workers.delivery import (
    CallOutcome,
    Delivery,
    NextMessage,
    RunOutcome,
    attempt_number,
    call_mark,
    seconds_to_deadline,
)
from workers.endings import fail, succeed
from workers.failures import failed_call, invalid_answer, skipped
from workers.holding import HoldPolicy, circuits_changed, hold_in_scheduler, slot_wait, spend_skip
from workers.lost_calls import record_lost_call
from workers.stream_calls import StreamJob, stream_target
from workers.telemetry import Telemetry
from workers.window_savings import saving_calls

__all__ = ["JobRunner", "NextMessage", "Publish", "RunOutcome", "Taken"]

# publish(job_id, hop, target, countdown_s): send the job's next message to target.queue.
Publish = Callable[[str, int, TargetRef, float | None], None]
# taken(queue, queued): a delivery began from ``queue``'s Celery list, which holds ``queued``
# messages now (None: not known); the worker's dispatcher tops the list up from it.
Taken = Callable[[str, int | None], None]


class JobRunner:
    def __init__(
        self,
        context: WorkerContext,
        publish: Publish,
        worker: str,
        telemetry: Telemetry | None = None,
        taken: Taken | None = None,
    ) -> None:
        self.context = context
        self.publish = publish
        self.worker = worker
        self.telemetry = telemetry or Telemetry()
        self.taken = taken
        # Claim tokens: unique per delivery, cheaper than a uuid4 each (itertools.count is
        # safe to share between threads, a generator is not).
        self._token_prefix = f"{worker}:{uuid.uuid4().hex[:12]}"
        self._token_numbers = itertools.count()
        self._hold_policy = HoldPolicy.of(context.settings)

    def run(
        self, job_id: str, hop: int, queue: str | None = None, delivery_tag: str | None = None
    ) -> RunOutcome:
        """Run route[hop] of the job once; ``queue``: the Celery list its message came from,
        ``delivery_tag``: the message's (a success acknowledges it, ``workers.message_acks``)."""
        store = self.context.store
        token = f"{self._token_prefix}:{next(self._token_numbers):x}"
        begun = store.begin(job_id, hop, token, self.context.settings.claim_ttl_s, queue)
        if queue is not None and self.taken is not None:
            self.taken(queue, begun.queued)
        if begun.outcome == "finished":
            return RunOutcome("stand_down", "already finished: this delivery is a duplicate")
        if begun.outcome == "unknown":
            return RunOutcome("stand_down", "unknown job: never submitted, or expired")
        if begun.outcome == "stale":
            return RunOutcome("stand_down", f"stale: the job has moved on to hop {begun.hop}")
        if begun.outcome == "claimed":
            # Another delivery holds the job. It may have died mid-call, so this message is not
            # dropped: it comes back once that claim has run out, and stands down then if the
            # job has ended.
            wait = begun.claim_seconds_left + 1.0
            self.publish(job_id, hop, begun.route[hop], wait)
            return RunOutcome("wait", f"another delivery is running; looking again in {wait:.0f}s")
        assert begun.stored is not None
        try:
            previous = begun.attempts
            if begun.lost_call is not None:
                lost = record_lost_call(self.context, self.telemetry, begun.stored, begun.lost_call)
                previous = [*previous, lost]
            outcome = self._run_claimed(begun.stored, hop, previous, token, delivery_tag)
        except BaseException:
            # with patience: a message handed back for a Redis error must not find the claim
            release_claim(store, job_id, token)
            raise
        if not outcome.claim_released:
            release_claim(store, job_id, token)
        if outcome.next is not None:
            # Sent only now: a message sent while this delivery still held the claim could be
            # taken at once by another worker, find the job claimed and be put off for minutes.
            # Sent before the record moves on: a crash between the two re-runs this hop (at
            # least once) instead of leaving the job with no message at all.
            self._send_next(job_id, outcome.next)
        return outcome

    def _send_next(self, job_id: str, following: NextMessage) -> None:
        if following.held:  # waits in the scheduler's held set, not as a countdown message
            hold_in_scheduler(self.context, job_id, following)
        else:
            self.publish(job_id, following.hop, following.target, following.countdown_s)
        if following.moves_on:
            self.context.store.advance(job_id, following.hop)

    def fail_internal(self, job_id: str, hop: int, error: Exception) -> RunOutcome:
        """End a job that cascade itself could not run (a bug, not a provider's failure), so
        that it fails visibly instead of waiting forever."""
        stored = self.context.store.load(job_id)
        if stored is None:
            return RunOutcome("stand_down", "unknown job: never submitted, or expired")
        reason = f"cascade internal error: {type(error).__name__}: {error}"
        at = min(hop, len(stored.route) - 1)
        return fail(self.context, self.telemetry, stored, at, "InternalError", reason[:500])

    def _run_claimed(
        self,
        stored: StoredJob,
        hop: int,
        previous: list[Attempt],
        token: str,
        delivery_tag: str | None,
    ) -> RunOutcome:
        job, target = stored.job, stored.route[hop]
        structlog.contextvars.bind_contextvars(
            job_id=job.id,
            batch_id=job.envelope.batch_id,
            tenant=job.envelope.tenant,
            provider=target.provider,
            model=target.model,
            hop=hop,
        )
        try:
            if out_of_time(stored, target, self.context.expected):
                reason = "the deadline passed, or comes before the target usually answers"
                return fail(self.context, self.telemetry, stored, hop, "DeadlineExceeded", reason)
            number = attempt_number(stored, hop, previous)
            structlog.contextvars.bind_contextvars(attempt=number)
            return self._attempt(Delivery(stored, hop, number, previous, token, delivery_tag))
        finally:
            structlog.contextvars.clear_contextvars()

    def _attempt(self, now: Delivery) -> RunOutcome:
        """One try at the hop's target: called, made to wait, or skipped without a call."""
        hold_id, store, ledger = now.hold_id, self.context.store, self.context.ledger
        # The spend reservation and the call's mark ride in admission's round trip; both are
        # taken back if no call follows.
        moment = datetime.now(UTC)
        # priced once, at the call's start: the reservation and the settled cost agree
        model = priced_at(self.context.catalog.model(now.target.model), moment)
        ceiling = estimate_call(now.stored.job, model)
        mark = call_mark(now, ceiling.usd, moment, self.worker)
        gate = self._admit(
            now,
            [
                ledger.reserve_call(
                    now.stored.job, now.target, hold_id=hold_id, estimate=ceiling, now=moment
                ),
                store.calls.mark_call(now.job_id, mark.to_json()),
            ],
        )
        if isinstance(gate, RunOutcome):
            unmark = store.calls.unmark_call(now.job_id)
            run_scripts(store.client, [ledger.release_call(hold_id), unmark])
            return gate
        if not isinstance(gate, Admitted):
            ledger.release(hold_id)
            return self._skip(now, gate)  # the skip's attempt takes the mark away
        grant: SpendGrant = gate.alongside[0]
        if not grant.allowed:  # refused: nothing was reserved
            self.context.gatekeeper.cancel(now.target, gate)
            return self._skip(now, spend_skip(grant, moment))
        outcome = self._call(now, gate.api_key)
        if isinstance(outcome.error, CallCancelled):  # the caller went: no provider's fault
            return end_cancelled(self.context, self.telemetry, self.worker, now, gate, outcome)
        if outcome.response is not None:
            return self._answered(now, gate, outcome, outcome.response, hold_id, model)
        self._settle_circuits(now, gate, outcome)
        self.context.ledger.release(hold_id)
        assert outcome.error is not None
        return failed_call(self.context, self.telemetry, self.worker, now, outcome, outcome.error)

    def _settle_circuits(self, now: Delivery, gate: Admitted, outcome: CallOutcome) -> None:
        changes = self.context.gatekeeper.settle(
            now.target, gate, error=outcome.error, latency_s=outcome.duration_s
        )
        circuits_changed(self.context, self.telemetry, changes)

    def _skip(self, now: Delivery, skip: Skip) -> RunOutcome:
        return skipped(self.context, self.telemetry, self.worker, now, skip, self._hold_policy)

    def _admit(
        self, now: Delivery, alongside: list[ScriptCall[Any]]
    ) -> Admitted | Skip | RunOutcome:
        """A ticket to call, a skip, or (a full rate limit the job may wait for) a re-publish."""
        model = self.context.catalog.model(now.target.model)
        request = now.stored.job.request
        tokens = estimate_prompt_tokens(request) + output_allowance(request, model)
        gate = self.context.gatekeeper.admit(now.target, tokens, alongside=alongside)
        if not isinstance(gate, Wait):
            return gate
        left = seconds_to_deadline(now.stored)
        if gate.seconds <= self.context.settings.max_retry_after_s and (
            left is None or gate.seconds < left
        ):
            return slot_wait(now, gate.seconds, gate.reason)
        return Skip("RateLimited", f"{gate.reason} ({gate.seconds:.1f}s) for the job to wait")

    def _call(self, now: Delivery, api_key: str) -> CallOutcome:
        target, job = now.target, now.stored.job
        client = self.context.http(target.provider)
        provider = self.context.catalog.provider(target.provider)
        if job.envelope.stream:
            model = self.context.catalog.model(target.model)
            writer = self.context.stream_writer(now.job_id)
            streamed = StreamJob(job.id, job.request, model, now.previous, writer)
            return stream_target(client, provider, target, api_key, streamed)
        return call_target(client, provider, job.request, target, api_key, job_id=job.id)

    # --- after the call ------------------------------------------------------------------

    def _answered(
        self,
        now: Delivery,
        gate: Admitted,
        outcome: CallOutcome,
        response: ParsedResponse,
        hold_id: str,
        model: ModelConfig,
    ) -> RunOutcome:
        target, job = now.target, now.stored.job
        cost = actual_cost_usd(model, response.usage)
        bookkeeping: list[ScriptCall[Any]] = [
            *self.context.gatekeeper.settle_calls(
                target, gate, error=None, latency_s=outcome.duration_s
            ),
            self.context.ledger.settle_call(job, target, response.usage, cost, hold_id=hold_id),
            self.context.latency.observe_call(target.provider, target.model, outcome.duration_s),
            *saving_calls(self.context, job, model, response.usage, cost),
        ]
        check = check_answer(response.choices[0].message.content, job)
        escalate_to = None if check.ok else next_tier_hop(now.stored.route, now.hop)
        context, telemetry = self.context, self.telemetry
        if escalate_to is None:
            worker = self.worker
            return succeed(context, telemetry, worker, now, outcome, response, cost, bookkeeping)
        circuits_changed(context, telemetry, run_scripts(context.store.client, bookkeeping))
        # The answer failed the caller's schema: the next tier gets the job. The call is paid.
        reason = check.reason or ""
        return invalid_answer(
            context, telemetry, self.worker, now, outcome, response.usage, cost, reason, escalate_to
        )
