"""``cascade submit --stream``: a streamed job's text printed as it arrives."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import click

from broker.cli.common import EXIT_TIMEOUT, errors

if TYPE_CHECKING:
    from broker.client import CascadeClient

__all__ = ["EXIT_FAILED", "print_chunks", "print_stream"]

EXIT_FAILED = 1


def print_stream(client: CascadeClient, job_id: str, timeout: float) -> int:
    """Print the job's text as it streams (the job id first, on stderr); its exit status.

    A reset (an attempt failed after part of its answer was printed) is said on stderr, and
    the next attempt's answer is printed whole after it."""
    from broker.job_streams import StreamFailed  # lazily, as the other commands import the client

    errors.print(f"job {job_id}", markup=False, highlight=False)
    try:
        print_chunks(client.stream(job_id, timeout=timeout))
    except StreamFailed as exc:
        errors.print(f"\n{exc}", markup=False, highlight=False)
        return EXIT_FAILED if exc.result is not None else EXIT_TIMEOUT
    click.echo()
    return 0


def print_chunks(chunks: Iterable[dict[str, Any]]) -> None:
    """Print the chunks' text as it comes; a reset is said on stderr (soft-wrapped: a narrow
    terminal must not crop its reason), and the answer after it is printed whole."""
    for chunk in chunks:
        if chunk.get("object") == "cascade.reset":
            reason = f"{chunk.get('error_class')}: {chunk.get('message')}"
            errors.print(
                f"\n[answer restarted: {reason}]", markup=False, highlight=False, soft_wrap=True
            )
            continue
        for choice in chunk.get("choices") or ():
            text = (choice.get("delta") or {}).get("content")
            if text:
                click.echo(text, nl=False)
