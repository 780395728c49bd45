"""Advancing pipelines: when a step's job ends, settle its round, decide, submit what is next.

Event-driven: the driver subscribes to the jobs' events and advances the pipeline a finished
step job belongs to (its id is ``<pipeline>.<step>.<round>``); a sweep of the active pipelines
every ``CASCADE_PIPELINE_SWEEP_INTERVAL_S`` catches what an event missed. Any number of drivers
may run: one holds a pipeline while it advances it (a lock with a TTL, so a killed driver holds
it only that long), and a step's job id depends only on the pipeline, the step and the round,
so a submit repeated after a crash is deduplicated by the job store.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import redis
import structlog

from broker.client import CascadeClient
from broker.ids import pipeline_of_job
from broker.pipelines.decisions import Decision, NewRun, decide
from broker.pipelines.records import PipelineResult, PipelineStatus, StepRun
from broker.pipelines.settle import budget_left, settled_run, spent
from broker.pipelines.state import PipelineRecord, PipelineStore, step_event
from broker.submit_errors import SubmitError

__all__ = ["PipelineDriver", "pipeline_of_job"]

log = structlog.get_logger(__name__)
# Enough for the longest chain of skips and submits one advance can make (32 steps, 10 rounds).
_MAX_PASSES = 64


class PipelineDriver:
    def __init__(self, client: CascadeClient) -> None:
        self.client = client
        self.store = PipelineStore(client.redis, client.keys, client.settings.result_ttl_s)

    # --- one pipeline ---------------------------------------------------------------------

    def advance(self, pipeline_id: str) -> bool:
        """Move the pipeline on as far as it can go now; False when another driver holds it."""
        token = self.store.lock(pipeline_id, self.client.settings.pipeline_lock_ttl_s)
        if token is None:
            return False
        try:
            for _ in range(_MAX_PASSES):
                if not self._pass(pipeline_id):
                    break
        finally:
            self.store.unlock(pipeline_id, token)
        return True

    def _pass(self, pipeline_id: str) -> bool:
        """One read, decide and write; True when it changed something worth deciding again."""
        record = self.store.load(pipeline_id)
        if record is None or record.status != PipelineStatus.RUNNING:
            self.store.drop_active(pipeline_id)
            return False
        changed = self._settle(record)
        runs = _merged(record.runs, changed)
        decision = decide(pipeline_id, record.spec, record.data, runs)
        if decision.done is not None:
            self.store.record(
                pipeline_id, changed, [step_event("step_ended", pipeline_id, r) for r in changed]
            )
            self._finish(record, runs, decision.done)
            return False
        skipped = [StepRun(step=name, round=0, status="skipped") for name in decision.skip]
        events = [step_event("step_ended", pipeline_id, run) for run in changed]
        events += [step_event("step_skipped", pipeline_id, run) for run in skipped]
        queued = self._submit(record, _merged(runs, skipped), decision)
        if queued is None:
            return False
        events += [step_event("step_queued", pipeline_id, run) for run in queued]
        if not self.store.record(pipeline_id, [*changed, *skipped, *queued], events):
            # Cancelled while this pass ran: its just-submitted steps are not to run.
            jobs = [run.job_id for run in queued if run.job_id]
            self.store.cancel_jobs(record.tenant, jobs, "the pipeline was cancelled")
            return False
        return bool(skipped or queued)

    def _settle(self, record: PipelineRecord) -> list[StepRun]:
        queued = [run for runs in record.runs.values() for run in runs if run.status == "queued"]
        found = self.client.store.results([run.job_id for run in queued if run.job_id])
        return [
            settled_run(run, record.spec.steps[run.step], found[run.job_id])
            for run in queued
            if run.job_id in found
        ]

    def _submit(
        self, record: PipelineRecord, runs: dict[str, list[StepRun]], decision: Decision
    ) -> list[StepRun] | None:
        """Submit the decided rounds as jobs; None when the pipeline ended instead."""
        if not decision.submit:
            return []
        cap = self._cost_cap(record, runs, len(decision.submit))
        if cap == "wait":
            return []
        if cap == "spent":
            self._finish(record, runs, (False, f"budget of ${record.spec.budget_usd} spent"))
            return None
        limit = cap if isinstance(cap, float) else None
        jobs = [self._job(record, new, limit) for new in decision.submit]
        try:
            self.client.submit_many(jobs)
        except SubmitError as exc:
            self._finish(record, runs, (False, f"a step could not be submitted: {exc}"))
            return None
        return [
            StepRun(
                step=new.step,
                round=new.round,
                status="queued",
                job_id=new.job_id,
                tier=new.tier,
                model=new.model,
                max_cost_usd=cap,
                feedback=new.feedback,
            )
            for new in decision.submit
        ]

    def _cost_cap(
        self, record: PipelineRecord, runs: dict[str, list[StepRun]], count: int
    ) -> float | str | None:
        left = budget_left(record.spec.budget_usd, runs)
        if left is None:
            return None
        if left > 1e-9:
            return left / count
        held = any(run.status == "queued" for group in runs.values() for run in group)
        # Rounds still running may cost less than they hold: wait for them before giving up.
        return "wait" if held else "spent"

    def _job(self, record: PipelineRecord, new: NewRun, cap: float | None) -> dict[str, Any]:
        needs = dict(new.needs)
        if cap is not None:
            needs["max_cost_usd"] = cap
        tags = {"pipeline": record.pipeline_id, "step": new.step, "round": str(new.round)}
        # A streamed pipeline streams its answer only: the output step's rounds, no other step.
        streamed = bool(record.envelope.get("stream")) and new.step == record.spec.output_step
        envelope = {**record.envelope, "id": new.job_id, "tenant": record.tenant, "tags": tags}
        envelope["stream"] = streamed
        return {"envelope": envelope, "needs": needs, "request": new.request}

    def _finish(
        self,
        record: PipelineRecord,
        runs: dict[str, list[StepRun]],
        done: tuple[bool, str | None],
    ) -> None:
        ok, error = done
        output_step = record.spec.output_step
        last = runs.get(output_step, [])
        final = last[-1] if last else None
        result = PipelineResult(
            pipeline_id=record.pipeline_id,
            status=PipelineStatus.SUCCEEDED if ok else PipelineStatus.FAILED,
            name=record.spec.name,
            tenant=record.tenant,
            output_step=output_step,
            text=final.text if ok and final else None,
            output=final.output if ok and final else None,
            error=error,
            cost_usd=spent(runs),
            steps=[run for group in runs.values() for run in group],
        )
        if self.store.finish(result):
            log.info("pipeline_finished", pipeline_id=record.pipeline_id, ok=ok, error=error)

    # --- the loop -------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Advance pipelines as their steps end, until ``stop`` is set; survives Redis restarts."""
        while not stop.is_set():
            try:
                self._listen(stop)
            except (redis.ConnectionError, redis.TimeoutError):
                stop.wait(0.5)

    def _listen(self, stop: threading.Event) -> None:
        pubsub = self.client.redis.pubsub(ignore_subscribe_messages=True)
        try:
            pubsub.subscribe(self.client.keys.pipeline_steps_channel())
            retry: set[str] = set(self.store.active())
            next_sweep = time.monotonic() + self.client.settings.pipeline_sweep_interval_s
            while not stop.is_set():
                message = pubsub.get_message(timeout=0.2)
                pipeline_id = _ended_pipeline(message)
                if pipeline_id is not None:
                    retry.add(pipeline_id)
                if time.monotonic() >= next_sweep:
                    retry.update(self.store.active())
                    next_sweep = time.monotonic() + self.client.settings.pipeline_sweep_interval_s
                retry = {pid for pid in retry if not self._advance_logged(pid)}
        finally:
            pubsub.close()

    def _advance_logged(self, pipeline_id: str) -> bool:
        try:
            return self.advance(pipeline_id)
        except (redis.ConnectionError, redis.TimeoutError):
            raise
        except Exception:  # a bug in one pipeline must not stop the others' driver
            log.exception("pipeline_advance_failed", pipeline_id=pipeline_id)
            return True

    def start(self) -> tuple[threading.Thread, threading.Event]:
        """The loop in a daemon thread, and the event that stops it."""
        stop = threading.Event()
        thread = threading.Thread(target=self.run, args=(stop,), name="pipelines", daemon=True)
        thread.start()
        return thread, stop


def _ended_pipeline(message: Any) -> str | None:
    if not isinstance(message, dict) or message.get("type") != "message":
        return None
    try:
        event = json.loads(message["data"])
    except (ValueError, TypeError):
        return None
    if event.get("status") not in ("succeeded", "failed"):
        return None
    return pipeline_of_job(str(event.get("job_id", "")))


def _merged(runs: dict[str, list[StepRun]], changed: list[StepRun]) -> dict[str, list[StepRun]]:
    merged = {name: list(group) for name, group in runs.items()}
    for run in changed:
        group = merged.setdefault(run.step, [])
        group[:] = [r for r in group if r.round != run.round] + [run]
        group.sort(key=lambda r: r.round)
    return merged
