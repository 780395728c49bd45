"""``Idempotency-Key``: a retried POST returns the job the first one submitted, not a second.

The openai SDK retries a timed-out or 5xx chat completion with the same headers, so a key the
caller sets on the request comes back with every retry. The key names the job: its id is a
digest of the tenant and the key, so the job store's submit script, which drops a job whose id
its tenant already holds, is the atomic "first one wins" and the job's record (kept for
``CASCADE_RESULT_TTL_S``) is the key's memory, with no key of its own to write or expire apart
from it. A retry then waits on (or reads) the same job. The same key on a different request is
refused with a 422 (which the SDK does not retry): a key must not answer another question.
"""

from __future__ import annotations

import hashlib

from broker.http_api.errors import ApiError
from broker.jobs import CompletionJob
from broker.store import StoredJob

__all__ = ["IDEMPOTENCY_HEADER", "check_same_request", "idempotent_job_id"]

IDEMPOTENCY_HEADER = "idempotency-key"
_MAX_KEY_CHARS = 255


def idempotent_job_id(tenant: str, key: str | None) -> str | None:
    """The job id an ``Idempotency-Key`` names for ``tenant``, or None without one; a 400
    naming the header for an empty, overlong or non-printable key."""
    if key is None:
        return None
    if not key or len(key) > _MAX_KEY_CHARS or not key.isprintable() or not key.isascii():
        raise ApiError(
            400,
            f"{IDEMPOTENCY_HEADER}: must be 1 to {_MAX_KEY_CHARS} printable ASCII characters",
            param=IDEMPOTENCY_HEADER,
        )
    digest = hashlib.sha256(f"{tenant}\x00{key}".encode()).hexdigest()[:32]
    return f"idem-{digest}"


def check_same_request(stored: StoredJob | None, job: CompletionJob) -> None:
    """A 422 when the job stored under the key asked something else than ``job`` does."""
    if stored is None:
        return
    if stored.job.request != job.request or stored.job.needs != job.needs:
        raise ApiError(
            422,
            f"{IDEMPOTENCY_HEADER}: this key was used for another request (job {job.id}); "
            "use a new key for a new request",
            code="idempotency_key_reused",
            param=IDEMPOTENCY_HEADER,
        )
