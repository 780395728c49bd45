"""A pipeline's Redis state: its record, its step rounds, its status, its events.

Every write that must happen together is one Lua script: creating a pipeline (record, active
set, first event), recording step rounds (only while the pipeline runs, so nothing is written
after its end) and finishing it (the result written once, status, event, out of the active set).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import redis

from broker.jobs import FailedResult
from broker.keys import Keys
from broker.pipelines.records import PipelineResult, PipelineStatus, StepRun
from broker.pipelines.spec import PipelineSpec

__all__ = ["PipelineRecord", "PipelineStore", "PipelineTaken", "step_event"]

# KEYS: record, events list, active set. ARGV: tenant, ttl, now, channel, event, then field
# and value pairs. Returns the owner's tenant when the id is taken (same tenant: the same
# submit again), or false when written.
_CREATE = """
local owner = redis.call('HGET', KEYS[1], 'tenant')
if owner then return owner end
for i = 6, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('HSET', KEYS[1], 'tenant', ARGV[1], 'status', 'running', 'created_at', ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[2])
redis.call('ZADD', KEYS[3], ARGV[3], KEYS[1])
redis.call('RPUSH', KEYS[2], ARGV[5])
redis.call('EXPIRE', KEYS[2], ARGV[2])
redis.call('PUBLISH', ARGV[4], ARGV[5])
return false
"""

# KEYS: record, events list. ARGV: channel, count of fields, field/value pairs, then events.
_RECORD = """
if redis.call('HGET', KEYS[1], 'status') ~= 'running' then return 0 end
local n = tonumber(ARGV[2])
for i = 3, 2 + 2 * n, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
for i = 3 + 2 * n, #ARGV do
  redis.call('RPUSH', KEYS[2], ARGV[i])
  redis.call('PUBLISH', ARGV[1], ARGV[i])
end
return 1
"""

# KEYS: record, events list, active set. ARGV: status, result, channel, event, ttl, the
# webhooks' registrations channel and the pipeline's webhook subject (a dispatcher looks now).
_FINISH = """
if redis.call('HEXISTS', KEYS[1], 'result') == 1 or redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
redis.call('HSET', KEYS[1], 'status', ARGV[1], 'result', ARGV[2])
redis.call('ZREM', KEYS[3], KEYS[1])
redis.call('RPUSH', KEYS[2], ARGV[4])
redis.call('PUBLISH', ARGV[3], ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[5])
redis.call('EXPIRE', KEYS[2], ARGV[5])
redis.call('PUBLISH', ARGV[6], ARGV[7])
return 1
"""

# KEYS: (result, job hash) per job. ARGV: tenant, ttl, now, events channel, then (result,
# event, done channel) per job. Ends each job of the tenant that has no result yet as
# cancelled, as a worker's finish would, so a worker that takes its message stands down.
_CANCEL_JOBS = """
local ended = 0
for i = 1, #KEYS / 2 do
  local base = 4 + 3 * (i - 1)
  local owner = redis.call('HGET', KEYS[2 * i], 'tenant')
  if owner == ARGV[1] and redis.call('SET', KEYS[2 * i - 1], ARGV[base + 1], 'NX', 'EX',
      ARGV[2]) then
    redis.call('HSET', KEYS[2 * i], 'status', 'failed', 'finished_at', ARGV[3])
    redis.call('PUBLISH', ARGV[base + 3], 'failed')
    redis.call('PUBLISH', ARGV[4], ARGV[base + 2])
    ended = ended + 1
  end
end
return ended
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class PipelineTaken(Exception):
    """The pipeline id is held by another tenant."""


@dataclass(frozen=True, slots=True)
class PipelineRecord:
    pipeline_id: str
    tenant: str
    status: PipelineStatus
    spec: PipelineSpec
    data: dict[str, Any]
    created_at: float
    runs: dict[str, list[StepRun]]
    result: PipelineResult | None
    # carried to every step's job
    envelope: dict[str, Any]


def _event(kind: str, pipeline_id: str, **extra: Any) -> str:
    return json.dumps(
        {"event": kind, "pipeline_id": pipeline_id, "at": datetime.now(UTC).isoformat(), **extra}
    )


class PipelineStore:
    def __init__(self, client: redis.Redis, keys: Keys, ttl_s: int) -> None:
        self.redis = client
        self.keys = keys
        self.ttl_s = ttl_s
        self._create = client.register_script(_CREATE)
        self._record = client.register_script(_RECORD)
        self._finish = client.register_script(_FINISH)
        self._cancel_jobs = client.register_script(_CANCEL_JOBS)
        self._release = client.register_script(_RELEASE)

    def create(
        self,
        pipeline_id: str,
        tenant: str,
        spec: PipelineSpec,
        data: Mapping[str, Any],
        envelope: Mapping[str, Any],
    ) -> bool:
        """Write a new pipeline; False when this tenant holds the id already (a re-submit)."""
        fields = {
            "spec": spec.model_dump_json(by_alias=True, exclude_none=True),
            "input": json.dumps(dict(data)),
            "envelope": json.dumps(dict(envelope)),
        }
        args: list[str | int | float] = [
            tenant,
            self.ttl_s,
            time.time(),
            self.keys.pipeline_channel(pipeline_id),
            _event("submitted", pipeline_id, name=spec.name, steps=list(spec.steps)),
        ]
        for field, value in fields.items():
            args += [field, value]
        owner = self._create(keys=self._keys(pipeline_id), args=args)
        if owner is None:
            return True
        if _text(owner) != tenant:
            raise PipelineTaken(pipeline_id)
        return False

    def _keys(self, pipeline_id: str) -> list[str]:
        return [
            self.keys.pipeline(pipeline_id),
            self.keys.pipeline_events(pipeline_id),
            self.keys.pipelines_active(),
        ]

    def load(self, pipeline_id: str) -> PipelineRecord | None:
        fields = self.redis.hgetall(self.keys.pipeline(pipeline_id))
        if not fields:
            return None
        found = {_text(k): _text(v) for k, v in fields.items()}
        runs: dict[str, list[StepRun]] = {}
        for name, value in found.items():
            if name.startswith("run:"):
                run = StepRun.model_validate_json(value)
                runs.setdefault(run.step, []).append(run)
        for step_runs in runs.values():
            step_runs.sort(key=lambda run: run.round)
        result = found.get("result")
        spec = PipelineSpec.model_validate_json(found["spec"])
        return PipelineRecord(
            pipeline_id=pipeline_id,
            tenant=found["tenant"],
            status=PipelineStatus(found["status"]),
            spec=spec,
            data=json.loads(found["input"]),
            created_at=float(found["created_at"]),
            # in the definition's order of steps, so results and trees read top to bottom
            runs={name: runs[name] for name in spec.steps if name in runs},
            result=PipelineResult.model_validate_json(result) if result else None,
            envelope=json.loads(found.get("envelope", "{}")),
        )

    def record(self, pipeline_id: str, runs: Sequence[StepRun], events: Sequence[str]) -> bool:
        """Store step rounds (and append their events) while the pipeline runs."""
        if not runs and not events:
            return True
        args: list[str | int] = [self.keys.pipeline_channel(pipeline_id), len(runs)]
        for run in runs:
            args += [f"run:{run.step}:{run.round}", run.model_dump_json()]
        args += list(events)
        done = self._record(
            keys=[self.keys.pipeline(pipeline_id), self.keys.pipeline_events(pipeline_id)],
            args=args,
        )
        return bool(done)

    def finish(self, result: PipelineResult) -> bool:
        """Write the one final result; False when the pipeline had ended already."""
        event = _event(
            "finished",
            result.pipeline_id,
            status=result.status.value,
            error=result.error,
            cost_usd=result.cost_usd,
        )
        done = self._finish(
            keys=self._keys(result.pipeline_id),
            args=[
                result.status.value,
                result.model_dump_json(),
                self.keys.pipeline_channel(result.pipeline_id),
                event,
                self.ttl_s,
                self.keys.webhooks_channel(),
                f"pipeline:{result.pipeline_id}",
            ],
        )
        return bool(done)

    def cancel_jobs(self, tenant: str, job_ids: Sequence[str], reason: str) -> int:
        """End the step jobs that have not ended, as cancelled; how many it ended."""

        now = datetime.now(UTC)
        keys: list[str] = []
        args: list[str | int] = [
            tenant,
            self.ttl_s,
            f"{now.timestamp():.6f}",
            self.keys.events_channel(),
        ]
        for job_id in job_ids:
            failed = FailedResult(
                job_id=job_id,
                error_class="Cancelled",
                error_message=reason,
                attempts=[],
                tenant=tenant,
                finished_at=now,
            )
            event = json.dumps(
                {
                    "job_id": job_id,
                    "status": "failed",
                    "error_class": "Cancelled",
                    "at": now.isoformat(),
                }
            )
            keys += [self.keys.result(job_id), self.keys.job(job_id)]
            args += [failed.model_dump_json(), event, self.keys.done_channel(job_id)]
        return int(self._cancel_jobs(keys=keys, args=args)) if keys else 0

    def events(self, pipeline_id: str, start: int = 0) -> list[dict[str, Any]]:
        raw = self.redis.lrange(self.keys.pipeline_events(pipeline_id), start, -1)
        return [json.loads(item) for item in raw]

    def active(self) -> list[str]:
        """Ids of the pipelines that have not ended."""
        prefix = self.keys.pipeline("")
        members = cast(list[bytes], self.redis.zrange(self.keys.pipelines_active(), 0, -1))
        return [_text(member)[len(prefix) :] for member in members]

    def drop_active(self, pipeline_id: str) -> None:
        self.redis.zrem(self.keys.pipelines_active(), self.keys.pipeline(pipeline_id))

    def lock(self, pipeline_id: str, ttl_s: int) -> str | None:
        token = uuid.uuid4().hex
        taken = self.redis.set(self.keys.pipeline_lock(pipeline_id), token, nx=True, ex=ttl_s)
        return token if taken else None

    def unlock(self, pipeline_id: str, token: str) -> None:
        self._release(keys=[self.keys.pipeline_lock(pipeline_id)], args=[token])


def step_event(kind: str, pipeline_id: str, run: StepRun) -> str:
    return _event(
        kind,
        pipeline_id,
        step=run.step,
        round=run.round,
        job_id=run.job_id,
        tier=run.tier,
        provider=run.provider,
        cost_usd=run.cost_usd,
        error=run.error or run.schema_error,
    )


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
