"""``cascade submit --stream``: a streamed job's text printed as it arrives."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from broker.cli.common import EXIT_TIMEOUT, errors

if TYPE_CHECKING:
    from broker.client import CascadeClient

__all__ = ["EXIT_FAILED", "print_stream"]

EXIT_FAILED = 1


def print_stream(client: CascadeClient, job_id: str, timeout: float) -> int:
    """Print the job's text as it streams (the job id first, on stderr); its exit status.

    A reset (an attempt failed after part of its answer was printed) is said on stderr, and
    the next attempt's answer is printed whole after it."""
    from broker.job_streams import StreamFailed  # lazily, as the other commands import the client

    errors.print(f"job {job_id}", markup=False, highlight=False)
    try:
        for chunk in client.stream(job_id, timeout=timeout):
            if chunk.get("object") == "cascade.reset":
                errors.print(
                    f"\n[answer restarted: {chunk.get('error_class')}: {chunk.get('message')}]",
                    markup=False,
                    highlight=False,
                )
                continue
            for choice in chunk.get("choices") or ():
                text = (choice.get("delta") or {}).get("content")
                if text:
                    click.echo(text, nl=False)
    except StreamFailed as exc:
        errors.print(f"\n{exc}", markup=False, highlight=False)
        return EXIT_FAILED if exc.result is not None else EXIT_TIMEOUT
    click.echo()
    return 0
