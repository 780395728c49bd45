"""Which ``purpose`` an uploaded file may have, and which a batch's input file must have.

The upload values are those of OpenAI's API reference for ``POST /v1/files``
(https://platform.openai.com/docs/api-reference/files/create: assistants, batch, fine-tune,
vision, user_data, evals). cascade stores any of them, but only reads ``batch`` files: OpenAI's
Batch API also takes its input only from a file uploaded for ``batch``.
"""

from __future__ import annotations

__all__ = ["BATCH_PURPOSE", "UPLOAD_PURPOSES", "batch_input_problem", "upload_purpose"]

UPLOAD_PURPOSES = ("assistants", "batch", "fine-tune", "vision", "user_data", "evals")
BATCH_PURPOSE = "batch"


def upload_purpose(purpose: object) -> str:
    """``purpose`` as an upload's; ValueError naming the values allowed otherwise."""
    if not isinstance(purpose, str) or not purpose:
        raise ValueError("a 'purpose' field is required: one of " + ", ".join(UPLOAD_PURPOSES))
    if purpose not in UPLOAD_PURPOSES:
        raise ValueError(f"purpose {purpose!r} is not one of " + ", ".join(UPLOAD_PURPOSES))
    return purpose


def batch_input_problem(file_id: str, purpose: str | None) -> str | None:
    """Why the file cannot be a batch's input, or None."""
    if purpose != BATCH_PURPOSE:
        return (
            f"input_file_id {file_id!r} was uploaded with purpose {purpose!r}; "
            f"a batch reads only files uploaded with purpose {BATCH_PURPOSE!r}"
        )
    return None
