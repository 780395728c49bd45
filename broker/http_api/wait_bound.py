"""How long a synchronous caller's job may go on: no longer than the caller waits for it.

A chat completion's caller who gets its 504 has stopped waiting; a job that goes on past that
is answered, and paid for, for nobody. So the job's deadline is the end of the wait: once it
passes, no worker starts another call for it (the job ends ``DeadlineExceeded``; a call in
flight then is let finish). ``X-Cascade-On-Timeout: continue`` lets the job go on to its answer,
which the caller polls at ``/v1/jobs/{id}``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from broker.http_api.errors import ApiError

__all__ = ["ON_TIMEOUT_HEADER", "job_deadline", "timeout_message"]

ON_TIMEOUT_HEADER = "x-cascade-on-timeout"
_CHOICES = ("stop", "continue")


def job_deadline(now: datetime, wait_s: float, on_timeout: str | None) -> datetime | None:
    """The deadline a waited-for job is submitted with, or None when the caller asked it to go
    on; a 400 naming the header for a value other than ``stop`` or ``continue``."""
    choice = (on_timeout or "stop").strip().lower()
    if choice not in _CHOICES:
        raise ApiError(
            400,
            f"{ON_TIMEOUT_HEADER}: {on_timeout!r} is not one of {', '.join(_CHOICES)}",
            param=ON_TIMEOUT_HEADER,
        )
    return None if choice == "continue" else now + timedelta(seconds=wait_s)


def timeout_message(job_id: str, bounded: bool) -> str:
    """What a 504 says the job does next."""
    if bounded:
        return (
            f"job {job_id} did not finish within the timeout; it starts no call after it "
            f"(send {ON_TIMEOUT_HEADER}: continue to let it go on)"
        )
    return f"job {job_id} did not finish within the timeout; it goes on"
