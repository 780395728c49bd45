"""The rules for ids a caller may choose: job ids, batch ids and tenant names.

Each of them becomes part of a Redis key (``cascade:job:<id>``, ``cascade:batch:<id>:jobs``,
``cascade:tenant:<t>:batches``), so each is held to a charset without ``:``: an id can then never
spell another key's name (``<id>:result`` is not an id), and a key read by id always has the type
the reader expects. A batch id is shorter than a job id because its jobs are ``<batch id>-<line>``.
"""

from __future__ import annotations

import re

__all__ = [
    "BATCH_ID_MAX",
    "ID_MAX",
    "check_batch_id",
    "check_id",
    "id_problem",
    "is_valid_id",
    "pipeline_of_job",
]

ID_MAX = 128
# Leaves room for "-<line number>" in the batch's job ids.
BATCH_ID_MAX = 100
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def id_problem(value: object, max_length: int = ID_MAX) -> str | None:
    """What is wrong with ``value`` as an id, or None when it is a valid one."""
    if not isinstance(value, str):
        return "must be a string"
    if not 1 <= len(value) <= max_length or _ID.fullmatch(value) is None:
        return (
            f"must be 1 to {max_length} characters of A-Z, a-z, 0-9, '_', '.' and '-', "
            f"starting with a letter or digit (no ':'); got {value[:40]!r}"
        )
    return None


def is_valid_id(value: object, max_length: int = ID_MAX) -> bool:
    return id_problem(value, max_length) is None


def check_id(value: str, max_length: int = ID_MAX) -> str:
    """``value`` if it is a valid id; else ValueError saying what an id may hold."""
    problem = id_problem(value, max_length)
    if problem is not None:
        raise ValueError(problem)
    return value


def check_batch_id(value: str) -> str:
    return check_id(value, BATCH_ID_MAX)


def pipeline_of_job(job_id: str) -> str | None:
    """The pipeline a step job belongs to, by the form of its id (``<pipeline>.<step>.<n>``)."""
    parts = job_id.split(".")
    return parts[0] if len(parts) == 3 and parts[2].isdigit() else None
