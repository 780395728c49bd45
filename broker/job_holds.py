"""Why a job waits: the one hold record a held job carries, updated on every hold.

A job whose targets are all unavailable for now (an open circuit, a spend cap reached for now,
no rate-limit slot) waits in the scheduler's held set without a call, so it has no attempt to
show for it. Its record carries one ``held`` entry instead (the job hash's ``held`` field):
the reason and target of the latest hold, when the job was first and last held, how many
times, and when it looks again. A repeated hold rewrites the entry (never appends), so a job
held for an hour carries one entry, not hundreds. ``GET /v1/jobs/{id}`` and ``cascade status``
show it; the worker reads it back with the record (the time since the first hold bounds a
spend-cap hold).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

__all__ = ["HoldRecord", "next_hold_record"]


@dataclass(frozen=True, slots=True)
class HoldRecord:
    """Times are epoch seconds."""

    error_class: str  # CircuitOpen, RateLimited, SpendCapReached
    reason: str
    provider: str
    model: str
    hop: int
    first_at: float
    last_at: float
    count: int
    look_at: float  # when the job looks again (the hold's end, or earlier on a release)

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: bytes | str) -> HoldRecord:
        return cls(**json.loads(raw))

    def view(self) -> dict[str, Any]:
        """As the API and the CLI show it: ISO times, the seconds held so far."""
        return {
            "outcome": "held",
            "error_class": self.error_class,
            "reason": self.reason,
            "target": f"{self.provider}/{self.model}",
            "hop": self.hop,
            "first_at": _iso(self.first_at),
            "last_at": _iso(self.last_at),
            "count": self.count,
            "held_s": round(self.last_at - self.first_at, 3),
            "look_at": _iso(self.look_at),
        }


def next_hold_record(
    previous: HoldRecord | None,
    *,
    error_class: str,
    reason: str,
    provider: str,
    model: str,
    hop: int,
    now: float,
    look_at: float,
) -> HoldRecord:
    """The entry after one more hold: the first hold's time kept, the count moved on."""
    return HoldRecord(
        error_class=error_class,
        reason=reason[:500],
        provider=provider,
        model=model,
        hop=hop,
        first_at=previous.first_at if previous is not None else now,
        last_at=now,
        count=(previous.count if previous is not None else 0) + 1,
        look_at=look_at,
    )


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()
