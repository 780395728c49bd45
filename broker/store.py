"""The job store: a job's record, attempts and final result in Redis, under its id.

Producers write a job once at submit; workers read it, append attempts and finish it. The final
result is written by one Lua script that sets it only if none exists, records the status, files a
failure as a dead letter and publishes the outcome, so a job ends exactly once even when two
deliveries of its message race.

A delivery marks the provider call it starts (``broker.call_marks``) and the step that records
the call's outcome removes the mark; ``begin`` hands the next delivery a mark it finds
(``Begun.lost_call``): a call whose worker died mid-call, for that delivery to record.

The finish script files a failed job in the dead-letter set and bounds it in the same step:
it trims the set to the result TTL (older ids point to records that have expired) and to the
newest ``dead_letters_max`` ids, and renews the set's own TTL. Listing and replaying dead
letters is ``broker.dead_letters``.

The scripts themselves are in ``broker.store_scripts``; this module builds their keys and
arguments and reads their replies.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import redis
from pydantic import TypeAdapter

from broker.call_marks import CallMarks
from broker.dead_letters import DeadLetters
from broker.ids import is_valid_id, pipeline_of_job
from broker.job_holds import HoldRecord
from broker.jobs import (
    Attempt,
    CompletionJob,
    CompletionResult,
    FailedResult,
    JobResult,
    JobStatus,
    TargetRef,
)
from broker.keys import Keys
from broker.script_batch import ScriptCall, run_script
from broker.store_scripts import ADVANCE, BEGIN, FINISH, RELEASE

__all__ = ["Begun", "JobStore", "StoredJob"]

_RESULT = TypeAdapter[CompletionResult | FailedResult](JobResult)
_TARGETS = TypeAdapter(list[TargetRef])


@dataclass(frozen=True, slots=True)
class Begun:
    """How a delivery's first step went. ``outcome``: ``started`` (the claim is this delivery's;
    ``stored`` and ``attempts`` are set), ``finished``, ``unknown``, ``stale`` (the job is on
    ``hop`` now) or ``claimed`` (another delivery holds it for ``claim_seconds_left``; the
    job's ``route`` is given, to send the message back with)."""

    outcome: Literal["started", "finished", "unknown", "stale", "claimed"]
    stored: StoredJob | None = None
    attempts: list[Attempt] = field(default_factory=list)
    hop: int | None = None
    claim_seconds_left: float = 0.0
    route: list[TargetRef] = field(default_factory=list)
    lost_call: str | None = None  # the mark of a call whose delivery died before recording it
    # Started, with the queue named: the messages its Celery list holds now (after this one).
    queued: int | None = None


@dataclass(frozen=True, slots=True)
class StoredJob:
    job: CompletionJob
    route: list[TargetRef]
    status: JobStatus
    hop: int
    run: int = 0  # how many times the job was replayed from the dead letters
    held: HoldRecord | None = None  # why it last waited without a call (broker/job_holds.py)


class JobStore:
    """Reads and writes jobs in Redis. Thread-safe: redis-py's client pools its connections."""

    def __init__(
        self, client: redis.Redis, keys: Keys, ttl_s: int, *, dead_letters_max: int = 10_000
    ) -> None:
        self.client = client
        self.keys = keys
        self.ttl_s = ttl_s
        self.dead_letters_max = dead_letters_max
        self.calls = CallMarks(client, keys, ttl_s)
        self.dead = DeadLetters(client, keys, ttl_s)
        self._begin = client.register_script(BEGIN)
        self._finish = client.register_script(FINISH)
        self._release = client.register_script(RELEASE)
        self._advance = client.register_script(ADVANCE)

    # --- submit ------------------------------------------------------------------------

    def add_to_pipeline(
        self, pipe: redis.client.Pipeline, job: CompletionJob, route: Sequence[TargetRef]
    ) -> None:
        """Queue the writes of a job's record alone, without its message (for tests and tools
        that run a job by hand). Producers write through ``broker.job_writes.JobWriter``, which
        writes record and message together and refuses another tenant's id."""
        key = self.keys.job(job.id)
        pipe.hset(
            key,
            mapping={
                "job": job.model_dump_json(),
                "route": _TARGETS.dump_json(list(route)).decode(),
                "status": JobStatus.QUEUED.value,
                "hop": 0,
                "submitted_at": f"{time.time():.6f}",
                "tenant": job.envelope.tenant,
                "batch_id": job.envelope.batch_id or "",
            },
        )
        pipe.expire(key, self.ttl_s)

    def exists(self, job_ids: Iterable[str]) -> list[str]:
        """The ids among ``job_ids`` that are already stored."""
        # A string that is no job id names no job, though it may spell another key's name.
        ids = [job_id for job_id in job_ids if is_valid_id(job_id)]
        pipe = self.client.pipeline(transaction=False)
        for job_id in ids:
            pipe.exists(self.keys.job(job_id))
        return [job_id for job_id, found in zip(ids, pipe.execute(), strict=True) if found]

    # --- worker side -------------------------------------------------------------------

    def load(self, job_id: str) -> StoredJob | None:
        return _stored(self.client.hgetall(self.keys.job(job_id)))

    def begin(
        self, job_id: str, hop: int, token: str, claim_ttl_s: int, queue: str | None = None
    ) -> Begun:
        """A delivery's first step, in one round trip (``store_scripts.BEGIN``): stand down, or
        hold the job under ``token`` and have it marked running on ``hop``. ``queue``: the
        Celery list the message came from, whose length a started delivery reports."""
        keys = self.keys
        names = [
            keys.result(job_id),
            keys.job(job_id),
            keys.claim(job_id),
            keys.attempts(job_id),
            keys.call(job_id),
        ]
        call: ScriptCall[Any] = ScriptCall(
            self._begin,
            names if queue is None else [*names, queue],
            [
                hop,
                token,
                claim_ttl_s,
                keys.events_channel(),
                _event(job_id, JobStatus.RUNNING, hop=hop),
            ],
        )
        reply = run_script(self.client, call)
        outcome = _text(reply[0])
        if outcome == "started":
            flat = reply[1]
            fields = dict(zip(flat[::2], flat[1::2], strict=True))
            return Begun(
                "started",
                stored=_stored(fields),
                attempts=[Attempt.model_validate_json(item) for item in reply[2]],
                lost_call=_text(reply[3]) or None,
                queued=None if int(reply[4]) < 0 else int(reply[4]),
            )
        if outcome == "stale":
            return Begun("stale", hop=int(reply[1]))
        if outcome == "claimed":
            return Begun(
                "claimed",
                claim_seconds_left=max(int(reply[1]), 0) / 1000,
                route=_TARGETS.validate_json(reply[2]),
            )
        return Begun("finished" if outcome == "finished" else "unknown")

    def release(self, job_id: str, token: str) -> None:
        self._release(keys=[self.keys.claim(job_id)], args=[token])

    def advance(self, job_id: str, hop: int) -> None:
        """Record that the job moved on to ``hop`` (a reroute), so older deliveries stand down.

        Never backwards: the next hop's worker may have started (and recorded its hop) first.
        """
        self._advance(keys=[self.keys.job(job_id)], args=[hop])

    def add_attempt(self, job_id: str, attempt: Attempt, *, ends_call: bool = False) -> None:
        """Record an attempt; ``ends_call``: it is the outcome of the marked call, whose mark
        goes in the same step."""
        key = self.keys.attempts(job_id)
        pipe = self.client.pipeline(transaction=False)
        pipe.rpush(key, attempt.model_dump_json())
        pipe.expire(key, self.ttl_s)
        if ends_call:
            pipe.delete(self.keys.call(job_id))
        pipe.execute()

    def attempts(self, job_id: str) -> list[Attempt]:
        raw = self.client.lrange(self.keys.attempts(job_id), 0, -1)
        return [Attempt.model_validate_json(item) for item in raw]

    def finish(
        self,
        job_id: str,
        result: CompletionResult | FailedResult,
        *,
        last_attempt: Attempt | None = None,
        claim_token: str | None = None,
    ) -> bool:
        """Store the final result unless one exists. True if this call ended the job."""
        return run_script(
            self.client,
            self.finish_call(job_id, result, last_attempt=last_attempt, claim_token=claim_token),
        )

    def finish_call(
        self,
        job_id: str,
        result: CompletionResult | FailedResult,
        *,
        last_attempt: Attempt | None = None,
        claim_token: str | None = None,
    ) -> ScriptCall[bool]:
        """``finish`` as a call to run with others (``broker.script_batch``).

        ``last_attempt``, the call that produced the result, is recorded in the same script (and
        the call's mark removed); with ``claim_token`` the claim is let go too, if it is still
        that token's.
        """
        now = f"{time.time():.6f}"
        failed = isinstance(result, FailedResult)
        batch = result.batch_id
        return ScriptCall(
            self._finish,
            keys=[
                self.keys.result(job_id),
                self.keys.job(job_id),
                self.keys.dead_letters(),
                self.keys.attempts(job_id),
                self.keys.batch(batch) if batch else "",
                self.keys.claim(job_id) if claim_token else "",
                self.keys.call(job_id) if last_attempt is not None else "",
            ],
            args=[
                result.model_dump_json(),
                result.status.value,
                self.ttl_s,
                self.keys.done_channel(job_id),
                self.keys.events_channel(),
                _event(job_id, result.status, batch_id=result.batch_id),
                job_id,
                now,
                "1" if failed else "0",
                self.keys.batch_channel(batch) if batch else "",
                last_attempt.model_dump_json() if last_attempt is not None else "",
                claim_token or "",
                self.dead_letters_max,
                self.keys.pipeline_steps_channel() if pipeline_of_job(job_id) else "",
            ],
            parse=bool,
        )

    # --- dead letters ------------------------------------------------------------------

    def dead_letters(self, limit: int = 100) -> list[tuple[str, float]]:
        """The newest failed jobs first: (job id, when it failed, as a Unix time)."""
        return self.dead.newest(limit)

    def reopen(self, job_id: str, route: Sequence[TargetRef]) -> int | None:
        """Turn a failed job back into a queued one on ``route``; its attempts are kept.

        Returns the job's new run number, or None if the job is not (or no longer) failed.
        The caller publishes the job's first message.
        """
        return self.dead.reopen(
            job_id,
            _TARGETS.dump_json(list(route)).decode(),
            _event(job_id, JobStatus.QUEUED, replayed=True),
        )

    # --- caller side -------------------------------------------------------------------

    def result(self, job_id: str) -> CompletionResult | FailedResult | None:
        if not is_valid_id(job_id):
            return None
        raw = self.client.get(self.keys.result(job_id))
        return None if raw is None else _RESULT.validate_json(raw)

    def results(self, job_ids: Sequence[str]) -> dict[str, CompletionResult | FailedResult]:
        """The final results among ``job_ids``, read in one round trip."""
        if not job_ids:
            return {}
        raw = self.client.mget([self.keys.result(job_id) for job_id in job_ids])
        return {
            job_id: _RESULT.validate_json(item)
            for job_id, item in zip(job_ids, raw, strict=True)
            if item is not None
        }

    def status(self, job_id: str) -> JobStatus | None:
        if not is_valid_id(job_id):
            return None
        raw = self.client.hget(self.keys.job(job_id), "status")
        return None if raw is None else JobStatus(_text(raw))

    def hold_record(self, job_id: str) -> HoldRecord | None:
        """The job's hold entry (why it waits, or waited, without a call), if it was held."""
        if not is_valid_id(job_id):
            return None
        raw = self.client.hget(self.keys.job(job_id), "held")
        return None if raw is None else HoldRecord.from_json(raw)


def _stored(fields: Any) -> StoredJob | None:
    """A job record as read from its hash, or None when there is none."""
    if not fields:
        return None
    return StoredJob(
        job=CompletionJob.model_validate_json(fields[b"job"]),
        route=_TARGETS.validate_json(fields[b"route"]),
        status=JobStatus(_text(fields[b"status"])),
        hop=int(fields[b"hop"]),
        run=int(fields.get(b"run", 0)),
        held=HoldRecord.from_json(held) if (held := fields.get(b"held")) else None,
    )


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _event(job_id: str, status: JobStatus, **extra: Any) -> str:
    return json.dumps(
        {"job_id": job_id, "status": status.value, "at": datetime.now(UTC).isoformat(), **extra}
    )
