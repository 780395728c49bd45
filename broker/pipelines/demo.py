"""The pipelines part of ``cascade demo``: the catalog's three example pipelines, run through
the demo's workers, each shown as its tree of steps."""

from __future__ import annotations

import uuid

from rich.console import Console

from broker.catalog_file import load_pipelines
from broker.client import CascadeClient
from broker.pipelines.facade import Pipelines, PipelineTimeout
from broker.pipelines.records import PipelineStatus
from broker.pipelines.tree import pipeline_tree

__all__ = ["DEMO_INPUTS", "run_pipeline_demo"]

# The shipped examples (broker/cascade.yaml, ``pipelines:``) and what the demo asks each.
DEMO_INPUTS: dict[str, str] = {
    "triage": "A complex question: why do transformer language models scale so well?",
    "answer-validated": "What is a message queue?",
    "summary": "four-day work weeks",
}


def run_pipeline_demo(client: CascadeClient, console: Console, timeout: float = 120) -> bool:
    """Run each example pipeline the catalog file holds; True when every one succeeded."""
    pipelines = Pipelines(client, load_pipelines(client.settings.config))
    ok = True
    for name, question in DEMO_INPUTS.items():
        if name not in pipelines.named:
            continue
        pid = pipelines.submit(
            name, {"question": question}, pipeline_id=f"demo-{name}-{uuid.uuid4().hex[:8]}"
        )
        try:
            result = pipelines.wait(pid, timeout)
        except PipelineTimeout:
            console.print(f"[red]pipeline {name} did not finish within {timeout:g}s[/red]")
            ok = False
            continue
        ok = ok and result.status == PipelineStatus.SUCCEEDED
        console.print(pipeline_tree(pipelines.record(pid)))
    return ok
